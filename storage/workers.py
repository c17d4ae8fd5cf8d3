"""The `workers` table: every `lprd run` process registers itself, beats, and says when it
stops; another process presumes it dead when its heartbeat is older than the stale interval.

On a database several hosts share, this heartbeat is what says a process is alive: a pid
means nothing on another host. Only the host a process runs on may also check its pid
(a restart reaps its own host's dead processes at once, without waiting for staleness).
Timestamps are each host's UTC clock, like every other timestamp lprd stores, so the hosts'
clocks must agree (NTP) to well within the stale interval.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.db import utcnow
from storage.models import RUNNING, StageRun, WorkerProcess
from storage.processes import ProcessId, this_host
from storage.states import WorkerState

_workers = WorkerProcess.__table__


@dataclass(frozen=True)
class WorkerRef:
    """A registered daemon process: its row id and where it runs."""

    id: int
    host: str
    pid: int

    @property
    def tag(self) -> str:
        """How the process signs the partial files it writes (see `ArtifactStore`)."""
        return writer_tag(self.host, self.pid)


def writer_tag(host: str, pid: int) -> str:
    """The signature of one process's partial files: `host~pid`."""
    return ProcessId(host, pid).tag


def register(session: Session, roles: Iterable[str], version: str) -> WorkerRef:
    """Insert this process's row (state running, beating from now); returns it."""
    now = utcnow()
    row = WorkerProcess(
        host=this_host(),
        pid=os.getpid(),
        roles=",".join(roles),
        version=version,
        state=WorkerState.RUNNING,
        started_at=now,
        heartbeat_at=now,
    )
    session.add(row)
    session.flush()
    return WorkerRef(row.id, row.host, row.pid)


def beat(session: Session, worker_id: int) -> bool:
    """Refresh a process's heartbeat; False when another host had presumed it dead.

    A process presumed dead (its beats were late: a stalled host, a network cut) is
    running again as far as anyone can tell, so its row is revived; the stages it was
    running have meanwhile gone back to the queue and its own results for them are
    refused by the guarded transitions.
    """
    state = session.execute(
        select(_workers.c.state).where(_workers.c.id == worker_id)
    ).scalar_one_or_none()
    session.execute(
        update(_workers)
        .where(_workers.c.id == worker_id)
        .values(heartbeat_at=utcnow(), state=WorkerState.RUNNING, stopped_at=None)
    )
    return state == WorkerState.RUNNING


def mark_stopped(session: Session, worker_id: int) -> None:
    """A clean exit: the process handed its running stages back before calling this."""
    now = utcnow()
    session.execute(
        update(_workers)
        .where(_workers.c.id == worker_id)
        .values(state=WorkerState.STOPPED, stopped_at=now, heartbeat_at=now)
    )


def _mark_lost(session: Session, rows: list[tuple[int, str, int]]) -> list[WorkerRef]:
    if rows:
        session.execute(
            update(_workers)
            .where(_workers.c.id.in_([r[0] for r in rows]))
            .where(_workers.c.state == WorkerState.RUNNING)
            .values(state=WorkerState.LOST, stopped_at=utcnow())
        )
    return [WorkerRef(*r) for r in rows]


def mark_stale_lost(session: Session, older_than: datetime) -> list[WorkerRef]:
    """Presume dead every running process whose heartbeat is older than `older_than`."""
    rows = session.execute(
        select(_workers.c.id, _workers.c.host, _workers.c.pid)
        .where(_workers.c.state == WorkerState.RUNNING)
        .where(_workers.c.heartbeat_at < older_than)
    ).all()
    return _mark_lost(session, [tuple(r) for r in rows])


def mark_dead_on_host(
    session: Session, host: str, is_alive: Callable[[int], bool], exclude: int | None = None
) -> list[WorkerRef]:
    """Mark lost the running processes of `host` whose pid `is_alive` denies (a restart
    on that host knows at once; nobody else can check a pid there)."""
    rows = session.execute(
        select(_workers.c.id, _workers.c.host, _workers.c.pid)
        .where(_workers.c.state == WorkerState.RUNNING)
        .where(_workers.c.host == host)
    ).all()
    dead = [tuple(r) for r in rows if r[0] != exclude and not is_alive(r[2])]
    return _mark_lost(session, dead)


def owners_not_running(session: Session) -> list[int]:
    """Processes that own a running stage run but are stopped or presumed dead."""
    return list(
        session.scalars(
            select(StageRun.claimed_by)
            .join(WorkerProcess, WorkerProcess.id == StageRun.claimed_by)
            .where(StageRun.status == RUNNING)
            .where(WorkerProcess.state != WorkerState.RUNNING)
            .distinct()
        )
    )


def hosts_gone(session: Session, older_than: datetime) -> set[str]:
    """Hosts that ran lprd daemons but have none beating after `older_than` now.

    A host that never ran a daemon is not among them: nothing is known about it.
    """
    alive = (
        select(_workers.c.host)
        .where(_workers.c.state == WorkerState.RUNNING)
        .where(_workers.c.heartbeat_at >= older_than)
    )
    return set(
        session.scalars(select(_workers.c.host).where(_workers.c.host.not_in(alive)).distinct())
    )


def overview(session: Session, stale_after_s: float) -> list[dict]:
    """Every running process, and each host's last process where none runs, for `lprd status`.

    Each comes with its host, pid, roles, version, state (a running one whose heartbeat
    is older than `stale_after_s` reads `stale`), heartbeat age and how many stages it runs.
    """
    busy = dict(
        session.execute(
            select(StageRun.claimed_by, func.count())
            .where(StageRun.status == RUNNING)
            .group_by(StageRun.claimed_by)
        ).all()
    )
    latest = select(func.max(_workers.c.id)).group_by(_workers.c.host)
    shown = session.scalars(
        select(WorkerProcess)
        .where((WorkerProcess.state == WorkerState.RUNNING) | WorkerProcess.id.in_(latest))
        .order_by(WorkerProcess.host, WorkerProcess.id)
    ).all()
    live_hosts = {w.host for w in shown if w.state == WorkerState.RUNNING}
    now = utcnow()
    rows = []
    for w in shown:
        if w.state != WorkerState.RUNNING and w.host in live_hosts:
            continue  # the host runs a newer process
        age = (now - w.heartbeat_at).total_seconds()
        stale = w.state == WorkerState.RUNNING and age > stale_after_s
        rows.append(
            {
                "id": w.id,
                "host": w.host,
                "pid": w.pid,
                "roles": [r for r in w.roles.split(",") if r],
                "version": w.version,
                "state": "stale" if stale else str(w.state),
                "started_at": w.started_at.isoformat(timespec="seconds"),
                "heartbeat_at": w.heartbeat_at.isoformat(timespec="seconds"),
                "heartbeat_age_s": round(age, 1),
                "running_stages": busy.get(w.id, 0),
            }
        )
    return rows
