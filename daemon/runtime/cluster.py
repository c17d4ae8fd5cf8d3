"""This daemon's place among the processes sharing one database: it registers itself in
`workers`, beats, leaves cleanly, and returns the work of dead processes to the queue.

Two ways a process is known dead:
- on its own host, at once: its pid is gone (what a restart checks before its first claim);
- from anywhere, after `workers.stale_after_s`: its heartbeat stopped (a host that died,
  lost power or was cut off). Only this works across hosts, where a pid means nothing.
A dead process's running stages go back to the queue as interruptions (not attempts), and
the partial files it signed are removed; partials of live processes are left alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from daemon import __version__
from daemon.config import Config
from storage import transitions, workers
from storage.artifacts import ArtifactStore
from storage.db import Database, utcnow
from storage.processes import ProcessId, pid_alive

log = logging.getLogger("lprd.cluster")


@dataclass(frozen=True)
class StartupReap:
    """What a start-up reap did: runs requeued, failed as crashing, partials removed."""

    requeued: int
    failed: int
    partials: int


def dead_here(pid: int) -> bool:
    """A process of this host that cannot be running: gone, or the pid is now ours."""
    return pid == os.getpid() or not pid_alive(pid)


def dead_thread_ids(owners: set[str]) -> list[str]:
    """Worker thread ids (`host:pid:thread`) of this host whose process is dead."""
    dead = []
    for worker in owners:
        process = ProcessId.from_thread_id(worker)
        if process is not None and process.on_this_host and dead_here(process.pid):
            dead.append(worker)
    return dead


def _dead_partial(tag: str | None) -> bool:
    """Partials to remove at start: unsigned ones, and this host's dead processes' ones."""
    if tag is None:
        return True
    process = ProcessId.from_tag(tag)
    return process is not None and process.on_this_host and dead_here(process.pid)


class Membership:
    """The `workers` row of this process and the reaping of dead processes' work."""

    def __init__(
        self,
        config: Config,
        db: Database,
        store: ArtifactStore,
        plans: Mapping[str, transitions.StagePlan],
    ) -> None:
        self.config = config
        self.db = db
        self.store = store
        self.plans = plans
        self.me: workers.WorkerRef | None = None

    def join(self) -> workers.WorkerRef:
        """Register this process (before its first claim)."""
        with self.db.write() as session:
            self.me = workers.register(session, self.config.roles, __version__)
        log.info(
            "registered as worker %d (%s, pid %d, roles %s)",
            self.me.id,
            self.me.host,
            self.me.pid,
            ",".join(self.config.roles),
        )
        return self.me

    def reap_own_host(self) -> StartupReap:
        """At start-up: return this host's dead processes' runs to the queue at once."""
        with self.db.write() as session:
            lost = workers.mark_dead_on_host(
                session, workers.this_host(), lambda pid: not dead_here(pid), self._my_id()
            )
            dead_threads = dead_thread_ids(transitions.running_worker_ids(session))
            report = transitions.reap_stale(
                session,
                worker_ids=dead_threads,
                claimed_by=[w.id for w in lost],
                plans=self.plans,
            )
        partials = self.store.remove_partials(_dead_partial)
        return StartupReap(report.requeued, report.failed, partials)

    def reap_stale(self) -> transitions.ReapReport:
        """The periodic reaper: runs of processes, on any host, whose heartbeat stopped."""
        cutoff = utcnow() - timedelta(seconds=self.config.workers.stale_after_s)
        with self.db.write() as session:
            lost = workers.mark_stale_lost(session, cutoff)
            report = transitions.reap_stale(
                session,
                older_than=cutoff,
                claimed_by=workers.owners_not_running(session),
                plans=self.plans,
            )
        for worker in lost:
            log.warning(
                "worker %d (%s, pid %d) stopped beating for over %.0f s: presumed dead",
                worker.id,
                worker.host,
                worker.pid,
                self.config.workers.stale_after_s,
            )
        if lost:
            tags = {w.tag for w in lost}
            self.store.remove_partials(lambda tag: tag in tags)
        if report.requeued or report.failed:
            log.warning("reaped stale runs: %d requeued, %d failed", report.requeued, report.failed)
        return report

    def beat(self) -> None:
        """Refresh this process's heartbeat (in the heartbeat loop)."""
        if self.me is None:
            return
        with self.db.write() as session:
            alive = workers.beat(session, self.me.id)
        if not alive:
            log.warning(
                "another host presumed this daemon dead (no heartbeat for over %.0f s) and "
                "requeued its running stages; beating again",
                self.config.workers.stale_after_s,
            )

    def leave(self) -> None:
        """A clean exit, after the running stages were handed back."""
        if self.me is None:
            return
        with self.db.write() as session:
            workers.mark_stopped(session, self.me.id)

    def _my_id(self) -> int | None:
        return self.me.id if self.me else None
