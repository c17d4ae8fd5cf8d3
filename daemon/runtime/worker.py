"""Worker threads: claim a runnable stage, run it, record the outcome.

Workers of one resource class share a claim query; SQLite's write lock (BEGIN IMMEDIATE)
or PostgreSQL's row locks (FOR UPDATE SKIP LOCKED) make each claim atomic, so two
workers never run the same stage run. An idle worker waits its poll interval, cut short
on PostgreSQL when another connection announces new work (daemon/wakeup.py).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from daemon import runner
from daemon.config import Config
from daemon.logtext import one_line
from daemon.model_cache import ModelCache
from daemon.pipeline import Pipeline
from daemon.runtime.inbox import moved_original
from daemon.stages.base import StageContext, VideoRef, artifact_filename
from daemon.wakeup import Wakeup
from storage import transitions
from storage.artifacts import ArtifactStore
from storage.db import Database, is_locked
from storage.models import Video
from storage.processes import ProcessId
from storage.states import RunOutcome
from storage.videos import OriginalChanged, check_original

log = logging.getLogger("lprd.worker")


def daemon_owner_prefix() -> str:
    """Prefix of every worker id of this process: host and pid."""
    return ProcessId.here().thread_prefix


@dataclass
class Services:
    """What every worker shares."""

    config: Config
    db: Database
    store: ArtifactStore
    models: ModelCache
    pipeline: Pipeline
    fingerprints: dict[str, str]
    stop_event: threading.Event
    wakeup: Wakeup | None = None  # None: idle workers just poll
    claimed_by: int | None = None  # this process's row in `workers`


class Worker(threading.Thread):
    """A thread that runs stages of one resource class until asked to stop."""

    def __init__(self, services: Services, resource: str, index: int) -> None:
        self.worker_id = f"{daemon_owner_prefix()}{resource}-{index}"
        super().__init__(name=f"worker-{resource}-{index}", daemon=True)
        self.services = services
        self.resource = resource
        self.current: transitions.ClaimedRun | None = None
        self._claimed_sha: dict[int, str] = {}

    def run(self) -> None:
        svc = self.services
        while not svc.stop_event.is_set():
            try:
                worked = self.work_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
                log.exception("%s: unexpected error; continuing", self.worker_id)
                worked = False
            if not worked:
                self._idle()

    def _idle(self) -> None:
        """Wait for work: the poll interval, or less when new work is announced."""
        svc = self.services
        poll_s = svc.config.workers.poll_interval_s
        if svc.wakeup is None:
            svc.stop_event.wait(poll_s)
        else:
            svc.wakeup.wait(self.resource, poll_s)

    def work_once(self) -> bool:
        """Claim and run one stage; False when nothing was runnable."""
        svc = self.services
        with svc.db.transition() as session:
            claimed = transitions.claim_next(
                session, self.resource, self.worker_id, svc.pipeline.order, svc.claimed_by
            )
        if claimed is None:
            return False
        self.current = claimed
        try:
            self._execute(claimed)
        finally:
            self.current = None
        return True

    def _execute(self, claimed: transitions.ClaimedRun) -> None:
        """Run a claimed stage; whatever happens, the claim ends in a transition."""
        svc = self.services
        try:
            stage = svc.pipeline[claimed.stage]
            video = self._video(claimed)
            ctx = self._context(video, self._original(video))
            log.info(
                "%s: %s on %s (attempt %d)",
                self.worker_id,
                stage.name,
                one_line(ctx.video.name),
                claimed.attempts,
            )
            if stage.reads_original:
                self._check_original(video, ctx.video.path)
            outcome = runner.execute(stage, ctx)
            if stage.reads_original:  # moved into the store meanwhile: checked there
                self._check_original(video, self._original(video))
        except OriginalChanged as exc:
            outcome = runner.Outcome(RunOutcome.PERMANENT, message=str(exc))
            self._discard_artifact(claimed)
        except Exception as exc:  # noqa: BLE001 - recorded as the run's failure below
            log.exception("%s: %s could not run", self.worker_id, claimed.stage)
            outcome = runner.Outcome(
                RunOutcome.TRANSIENT, message=f"could not run: {type(exc).__name__}: {exc}"
            )
        self._record(claimed, outcome)
        self._claimed_sha.pop(claimed.id, None)

    def _record(self, claimed: transitions.ClaimedRun, outcome: runner.Outcome) -> None:
        """Record the outcome, waiting out a locked database; never leave the row running."""
        backoff = 0.5
        while True:
            try:
                record_outcome(self.services, self.worker_id, claimed, outcome)
                return
            except transitions.TransitionError as exc:
                log.warning("%s: %s", self.worker_id, one_line(exc))
                self._drop_if_forgotten(claimed)
                return
            except Exception as exc:
                if not is_locked(exc) or self.services.stop_event.is_set():
                    # The row stops beating once this claim is dropped: the reaper takes it.
                    log.exception("%s: could not record %s", self.worker_id, claimed.stage)
                    return
                log.warning(
                    "%s: database locked; recording again in %.1f s", self.worker_id, backoff
                )
                self.services.stop_event.wait(backoff)
                backoff = min(30.0, backoff * 2)

    def _drop_if_forgotten(self, claimed: transitions.ClaimedRun) -> None:
        """The video was forgotten while its stage ran: delete what the stage just wrote."""
        svc = self.services
        with svc.db.read() as session:
            video = session.get(Video, claimed.video_id)
        sha = self._claimed_sha.pop(claimed.id, None)
        if video is None and sha is not None:
            with svc.db.read() as session:
                again = session.execute(select(Video.id).where(Video.sha256 == sha)).first()
            if again is None:
                svc.store.delete_video(sha)
                log.info(
                    "%s: video %d was forgotten meanwhile; its output deleted",
                    self.worker_id,
                    claimed.video_id,
                )

    def _video(self, claimed: transitions.ClaimedRun) -> Video:
        with self.services.db.read() as session:
            video = session.execute(select(Video).where(Video.id == claimed.video_id)).scalar_one()
        self._claimed_sha[claimed.id] = video.sha256
        return video

    def _original(self, video: Video) -> Path:
        """The video's original: its recorded path, or, when that is gone, the store's
        copy the inbox moved it to (`inbox.originals = "move"` with a crash, or this
        claim, between the move and its recording), which is recorded as its path now.
        `_check_original` then makes sure the content is the registered one."""
        svc = self.services
        path = svc.store.resolve_video_path(video.path)
        if os.path.lexists(path):
            return path
        moved = moved_original(svc.store, video)
        if moved is None:
            return path
        with svc.db.write() as session:
            session.execute(
                update(Video)
                .where(Video.id == video.id, Video.path == video.path)
                .values(path=str(moved))
            )
        log.info(
            "%s: video %d: original found where the inbox moved it (%s)",
            self.worker_id,
            video.id,
            one_line(moved),
        )
        video.path = str(moved)
        return moved

    def _check_original(self, video: Video, path: Path) -> None:
        """Raise `OriginalChanged` unless `path` holds the registered content."""
        touched = check_original(video, path)
        if touched is not None:
            video.mtime = touched
            with self.services.db.write() as session:
                session.execute(update(Video).where(Video.id == video.id).values(mtime=touched))

    def _discard_artifact(self, claimed: transitions.ClaimedRun) -> None:
        """Delete what a run wrote from content that was not the registered one."""
        sha = self._claimed_sha.get(claimed.id)
        if sha is not None:
            target = self.services.store.video_dir(sha) / artifact_filename(claimed.stage)
            target.unlink(missing_ok=True)

    def _context(self, video: Video, path: Path) -> StageContext:
        svc = self.services
        ref = VideoRef(video.id, video.sha256, video.name, path)
        return StageContext(
            video=ref,
            config=svc.config,
            store=svc.store,
            models=svc.models,
            db=svc.db,
            stop_event=svc.stop_event,
        )


def record_outcome(
    svc: Services, worker_id: str, claimed: transitions.ClaimedRun, outcome: runner.Outcome
) -> None:
    """Turn a runner outcome into the matching guarded transition."""
    finished = outcome.kind in (RunOutcome.DONE, RunOutcome.SKIPPED)
    with svc.db.transition() if finished else svc.db.write() as session:
        _record(session, svc, worker_id, claimed, outcome)


def _record(
    session: Session,
    svc: Services,
    worker_id: str,
    claimed: transitions.ClaimedRun,
    outcome: runner.Outcome,
) -> None:
    if outcome.kind in (RunOutcome.DONE, RunOutcome.SKIPPED):
        transitions.complete(
            session,
            claimed.id,
            worker_id,
            svc.pipeline.plans,
            skipped=outcome.kind == RunOutcome.SKIPPED,
            skip_reason=outcome.message or None,
            backend=outcome.backend,
            model=outcome.model,
            fingerprint=svc.fingerprints.get(claimed.stage),
            artifact=outcome.artifact,
            summary=outcome.summary,
        )
    elif outcome.kind == RunOutcome.DEFERRED:
        retry_after_s = outcome.retry_after_s or 300
        transitions.defer(session, claimed.id, worker_id, outcome.message, retry_after_s)
    elif outcome.kind == RunOutcome.STOPPED:
        transitions.release(session, claimed.id, worker_id)
    else:
        workers = svc.config.workers
        retry = svc.pipeline[claimed.stage].retry.with_backoff(
            workers.backoff_base_s, workers.backoff_max_s
        )
        permanent = outcome.kind == RunOutcome.PERMANENT
        status = transitions.fail(
            session,
            claimed.id,
            worker_id,
            outcome.message,
            permanent=permanent,
            retry=retry,
            plans=svc.pipeline.plans,
        )
        log.warning("%s: %s -> %s: %s", worker_id, claimed.stage, status, one_line(outcome.message))
