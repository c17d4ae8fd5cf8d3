"""`lprd run`: the long-running daemon that ties inbox, watcher, scheduler and workers.

Start-up: migrate the database (with a backup), check the stage registry against it,
add stage rows for stages new to this version, re-queue stages whose fingerprint changed,
register this process in `workers`, reap the runs this host's dead processes left and
remove their partial files. Then watch, schedule and work (as this host's `roles` say)
until SIGTERM/SIGINT, and stop gracefully within `workers.stop_timeout_s`.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import threading
import time
from collections.abc import Callable

from sqlalchemy import func, or_, select

from daemon.config import Config
from daemon.learn.jobs.supervisor import reap_dead_training
from daemon.learn.orphans import remove_orphan_models
from daemon.logtext import one_line
from daemon.model_cache import ModelCache
from daemon.pipeline import Pipeline
from daemon.privacy import disable_onnxruntime_telemetry
from daemon.runtime import forgetting
from daemon.runtime.cluster import Membership
from daemon.runtime.home import prepare_home
from daemon.runtime.home_lock import HomeLock
from daemon.runtime.inbox import Inbox
from daemon.runtime.scheduler import build_scheduler
from daemon.runtime.status import DAEMON_ALIVE_KEY
from daemon.runtime.worker import Services, Worker
from daemon.sdnotify import SystemdNotifier
from daemon.wakeup import Wakeup
from storage import db as dbmod
from storage import transitions
from storage.meta import set_meta
from storage.models import FILE_WAITING, PENDING, RUNNING, InboxFile, StageRun, Video

log = logging.getLogger("lprd.daemon")
FINGERPRINT_CHECK_S = 60.0


def ensure_stage_rows(db: dbmod.Database, pipeline: Pipeline) -> int:
    """Give every video a row for every registered stage (stages new to this version)."""
    created = 0
    with db.write() as session:
        counts = dict(
            session.execute(
                select(StageRun.video_id, func.count()).group_by(StageRun.video_id)
            ).all()
        )
        for video_id in session.scalars(select(Video.id)):
            if counts.get(video_id, 0) < len(pipeline.order):
                created += transitions.create_stage_runs(session, video_id, pipeline.plans.values())
    return created


def is_idle(db: dbmod.Database) -> bool:
    """Nothing running, nothing claimable now, no inbox file waiting to settle."""
    now = dbmod.utcnow()
    with db.read() as session:
        busy = session.execute(
            select(StageRun.id)
            .where(
                or_(
                    StageRun.status == RUNNING,
                    (StageRun.status == PENDING)
                    & (StageRun.waiting_on == 0)
                    & or_(StageRun.next_attempt_at.is_(None), StageRun.next_attempt_at <= now),
                )
            )
            .limit(1)
        ).first()
        waiting = session.execute(
            select(InboxFile.id).where(InboxFile.state == FILE_WAITING).limit(1)
        ).first()
    return busy is None and waiting is None


class Backoff:
    """Exponential delays: first_s, doubling up to max_s, until reset."""

    def __init__(self, first_s: float, max_s: float) -> None:
        self.first_s, self.max_s, self._next = first_s, max_s, first_s

    def next(self) -> float:
        """The delay to wait now; the one after is twice as long (capped)."""
        delay, self._next = self._next, min(self.max_s, self._next * 2)
        return delay

    def reset(self) -> None:
        """Back to the first delay after a success."""
        self._next = self.first_s


class Daemon:
    """One running lprd process."""

    def __init__(
        self, config: Config, *, until_idle: bool = False, pipeline: Pipeline | None = None
    ) -> None:
        self.config = config
        self.pipeline = pipeline or Pipeline.default(config.stages)
        self.until_idle = until_idle
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        self.wakeup = Wakeup(self.stop_event)
        self.notifier = SystemdNotifier()
        self.workers: list[Worker] = []
        self.membership: Membership | None = None
        self._backoff = Backoff(first_s=0.5, max_s=30.0)

    def startup(self) -> Services:
        """Everything before the first claim; raises on an inconsistent registry."""
        config = self.config
        if importlib.util.find_spec("onnxruntime") is not None:
            disable_onnxruntime_telemetry()
        db = prepare_home(config)
        pipeline = self.pipeline
        pipeline.check_database(db)
        # Reports' partials are swept with the store's; a forgotten video's files are
        # never published (daemon/runtime/forgetting.py).
        store = forgetting.guarded_store(config, db, write_log=config.paths.write_log)
        added = ensure_stage_rows(db, pipeline)
        fingerprints = pipeline.fingerprints(config, db)
        with db.write() as session:
            requeued = transitions.requeue_changed_fingerprints(
                session, pipeline.plans, fingerprints
            )
        self.membership = Membership(config, db, store, pipeline.plans)
        self.membership.join()
        reaped = self.membership.reap_own_host()
        finished = forgetting.sweep(db, store)
        if finished:
            log.info("start-up: %d interrupted forgets finished", finished)
        remove_orphan_models(config, db)  # a killed training's unregistered model folders
        log.info(
            "start-up: %d stage rows added, %d re-queued for changed inputs, %d interrupted "
            "runs requeued (%d failed as crashing), %d partial files removed",
            added,
            requeued,
            reaped.requeued,
            reaped.failed,
            reaped.partials,
        )
        return Services(
            config=config,
            db=db,
            store=store,
            models=ModelCache(config.device),
            pipeline=pipeline,
            fingerprints=fingerprints,
            stop_event=self.stop_event,
            wakeup=self.wakeup,
            claimed_by=self.membership.me.id if self.membership.me else None,
        )

    def run(self) -> int:
        """Run until stopped (or idle, with --until-idle); returns an exit code."""
        self.config.home_dir.mkdir(parents=True, exist_ok=True)
        lock = HomeLock(self.config.home_dir)
        lock.acquire()
        # From the start: a stop during start-up (systemd, a slow migration, a locked
        # database) then ends in a clean exit instead of death by the signal.
        self._install_signal_handlers()
        try:
            return self._run()
        finally:
            lock.release()

    def _startup_waiting_out_locks(self) -> Services | None:
        """Start-up, retried while the database is locked; None when stopped meanwhile."""
        while not self.stop_event.is_set():
            try:
                return self.startup()
            except Exception as exc:
                if not dbmod.is_locked(exc):
                    raise
                delay = self._backoff.next()
                log.warning(
                    "database is locked by another process; start-up retries in %.1f s", delay
                )
                self.stop_event.wait(delay)
        return None

    def _run(self) -> int:
        svc = self._startup_waiting_out_locks()
        if self.stop_event.is_set():  # during start-up (svc is None if it never finished)
            self._leave_before_work(svc)
            return 0
        self._backoff.reset()
        # Beating from now on: a start-up scan of a big inbox must not look like death.
        threading.Thread(
            target=self._heartbeat_loop, args=(svc,), daemon=True, name="heartbeat"
        ).start()
        inbox = Inbox(self.config, svc.db, svc.store, svc.pipeline)
        watches = "inbox" in self.config.roles
        if watches:
            self._guarded(inbox.scan)
        observer = self._start_watcher(inbox) if watches and not self.until_idle else None
        scheduler = build_scheduler(self.config, svc.db, inbox.scan, self.membership.reap_stale)
        scheduler.add_job(
            self._refresh_fingerprints,
            "interval",
            seconds=FINGERPRINT_CHECK_S,
            args=(svc,),
            id="fingerprints",
        )
        if not self.until_idle:
            scheduler.start()
        self.wakeup.listen(svc.db)
        self._start_workers(svc)
        self.notifier.ready()
        log.info(
            "lprd running: inbox %s, %d cpu + %d gpu workers, roles %s",
            one_line(inbox.root) if watches else "not watched here",
            self.config.workers.cpu,
            self.config.workers.gpu,
            ",".join(self.config.roles),
        )
        try:
            self._main_loop(svc, inbox)
        finally:
            self._shutdown(svc, observer, scheduler)
        return 0

    def _leave_before_work(self, svc: Services | None) -> None:
        """Stopped during start-up: nothing was claimed, so only say goodbye."""
        if svc is not None:
            self.membership.leave()
            svc.db.dispose()
        log.info("stopped during start-up; lprd stopped")

    def _start_watcher(self, inbox: Inbox):
        from daemon.runtime.watcher import start_watcher

        return start_watcher(inbox, self.wake_event.set)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: (self.stop_event.set(), self.wake_event.set()))

    def _start_workers(self, svc: Services) -> None:
        if "stages" not in self.config.roles:
            return
        for resource, count in (("cpu", self.config.workers.cpu), ("gpu", self.config.workers.gpu)):
            for index in range(count):
                worker = Worker(svc, resource, index)
                worker.start()
                self.workers.append(worker)

    def _guarded(self, step: Callable[[], object]) -> bool:
        """Run one step of the main loop; a failure is logged and waited out, never fatal.

        A database locked past the busy timeout (another process writing, a backup) and any
        unexpected error back off exponentially, so the loop neither dies nor spins.
        """
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any one failure
            delay = self._backoff.next()
            if dbmod.is_locked(exc):
                log.warning("database is locked by another process; retrying in %.1f s", delay)
            else:
                log.exception("main loop: unexpected error; retrying in %.1f s", delay)
            self.stop_event.wait(delay)
            return False
        self._backoff.reset()
        return True

    def _main_loop(self, svc: Services, inbox: Inbox) -> None:
        idle_since: float | None = None
        while not self.stop_event.is_set():
            self.wake_event.wait(0.5)
            self.wake_event.clear()
            watching = "inbox" in self.config.roles
            if watching and not (self._guarded(inbox.drain) and self._guarded(inbox.settle)):
                continue
            if self.until_idle:
                if is_idle(svc.db):
                    idle_since = idle_since or time.monotonic()
                    # Twice in a row, a poll apart: a claim may be between two statements.
                    if time.monotonic() - idle_since > self.config.workers.poll_interval_s:
                        log.info("nothing left to do; exiting (--until-idle)")
                        return
                else:
                    idle_since = None

    def _heartbeat_loop(self, svc: Services) -> None:
        interval = self.config.workers.heartbeat_s
        if self.notifier.watchdog_interval_s:
            interval = min(interval, self.notifier.watchdog_interval_s)
        while not self.stop_event.wait(interval):
            try:
                with svc.db.write() as session:
                    claims = [(w.current, w.worker_id) for w in self.workers]
                    busy = [(claim, owner) for claim, owner in claims if claim is not None]
                    transitions.heartbeat(session, [c for c, _ in busy], [o for _, o in busy])
                self.membership.beat()
                set_meta(svc.db, DAEMON_ALIVE_KEY, dbmod.utcnow().isoformat(timespec="seconds"))
                # A killed training child: reaped within a beat.
                reap_dead_training(svc.db, self.config.workers.stale_after_s)
                self.notifier.ping()
            except Exception:  # noqa: BLE001 - keep beating through a busy database
                log.exception("heartbeat failed")

    def _refresh_fingerprints(self, svc: Services) -> None:
        current = svc.pipeline.fingerprints(self.config, svc.db)
        changed = {k: v for k, v in current.items() if svc.fingerprints.get(k) != v}
        if changed:
            svc.fingerprints.update(current)
            with svc.db.write() as session:
                plans = svc.pipeline.plans
                count = transitions.requeue_changed_fingerprints(session, plans, current)
                count += transitions.wake_waiting(session, changed)
            log.info("inputs of %s changed; %d stage runs re-queued", sorted(changed), count)

    def _shutdown(self, svc: Services, observer, scheduler) -> None:
        self.wakeup.stop()
        self.notifier.stopping()
        if observer is not None:
            observer.stop()
        if scheduler.running:
            scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.config.workers.stop_timeout_s
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            claimed = worker.current
            if worker.is_alive() and claimed is not None:
                try:
                    with svc.db.write() as session:
                        transitions.release(session, claimed.id, worker.worker_id)
                    log.warning(
                        "stop timeout: %s on video %d returned to pending",
                        claimed.stage,
                        claimed.video_id,
                    )
                except transitions.TransitionError:
                    pass
        try:
            self.membership.leave()
        except Exception:  # noqa: BLE001 - its heartbeat ends anyway; others presume it dead
            log.exception("could not record this daemon's exit in the workers table")
        svc.db.dispose()
        log.info("lprd stopped")

    def stuck_workers(self) -> list[str]:
        """Workers still inside a stage after the stop timeout (their runs were released)."""
        return [w.worker_id for w in self.workers if w.is_alive()]
