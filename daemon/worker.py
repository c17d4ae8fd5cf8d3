"""Worker threads: claim a runnable stage, run it, record the outcome.

Workers of one resource class share a claim query; SQLite's write lock (BEGIN IMMEDIATE)
makes each claim atomic, so two workers never run the same stage run.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import runner
from daemon.config import Config
from daemon.model_cache import ModelCache
from daemon.pipeline import Pipeline
from daemon.stages.base import StageContext, VideoRef
from storage import transitions
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import Video
from storage.states import RunOutcome

log = logging.getLogger("lprd.worker")


def daemon_owner_prefix() -> str:
    """Prefix of every worker id of this process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}:"


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


class Worker(threading.Thread):
    """A thread that runs stages of one resource class until asked to stop."""

    def __init__(self, services: Services, resource: str, index: int) -> None:
        self.worker_id = f"{daemon_owner_prefix()}{resource}-{index}"
        super().__init__(name=f"worker-{resource}-{index}", daemon=True)
        self.services = services
        self.resource = resource
        self.current: transitions.ClaimedRun | None = None

    def run(self) -> None:
        svc = self.services
        while not svc.stop_event.is_set():
            try:
                worked = self.work_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
                log.exception("%s: unexpected error; continuing", self.worker_id)
                worked = False
            if not worked:
                svc.stop_event.wait(svc.config.workers.poll_interval_s)

    def work_once(self) -> bool:
        """Claim and run one stage; False when nothing was runnable."""
        svc = self.services
        with svc.db.write() as session:
            claimed = transitions.claim_next(
                session, self.resource, self.worker_id, svc.pipeline.order
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
        svc = self.services
        ctx = self._context(claimed.video_id)
        stage = svc.pipeline[claimed.stage]
        log.info(
            "%s: %s on %s (attempt %d)",
            self.worker_id,
            stage.name,
            ctx.video.name,
            claimed.attempts,
        )
        outcome = runner.execute(stage, ctx)
        try:
            record_outcome(svc, self.worker_id, claimed, outcome)
        except transitions.TransitionError as exc:
            log.warning("%s: %s", self.worker_id, exc)

    def _context(self, video_id: int) -> StageContext:
        svc = self.services
        with svc.db.read() as session:
            video = session.execute(select(Video).where(Video.id == video_id)).scalar_one()
            ref = VideoRef(
                video.id, video.sha256, video.name, svc.store.resolve_video_path(video.path)
            )
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
    with svc.db.write() as session:
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
            session, claimed.id, worker_id, outcome.message, permanent=permanent, retry=retry
        )
        log.warning("%s: %s -> %s: %s", worker_id, claimed.stage, status, outcome.message)
