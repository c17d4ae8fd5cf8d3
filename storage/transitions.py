"""Guarded state transitions of stage runs.

Every status change goes through one of these functions. Each UPDATE names the state it
expects the row to be in (and, for a running row, the worker that owns it) and raises
`TransitionError` unless exactly one row changed, so a stale worker can never overwrite
what another worker or the reaper decided. Training runs close through the same
`guarded_update`.

Every function takes the session of the caller's transaction (`with db.write() as
session:`), so several transitions can share one transaction. The daemon's two hot ones,
`claim_next` and `complete`, are one statement each on PostgreSQL and run in
`db.transition()` (autocommit there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import ARRAY, String, Table, bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session

from storage.db import dialect_of, utcnow
from storage.models import DONE, FAILED, FRESH_RUN, PENDING, RUNNING, SKIPPED, StageRun
from storage.notify import CHANNEL, notify_work
from storage.states import FINISHED_STATES, ErrorKind, StageStatus

_runs = StageRun.__table__


class TransitionError(RuntimeError):
    """A guarded update found the row in another state than expected."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a stage may be attempted and how long a transient failure waits.

    The stage row keeps a copy of `max_attempts` (written when the row is created) for
    the reaper and `lprd show`; the delay doubles from `backoff_base_s` up to
    `backoff_max_s`.
    """

    max_attempts: int = 3
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    # Deaths of the process while this stage ran, in a row, before the stage is blamed:
    # kill -9 from outside is never its fault, but one that exhausts memory (the OOM
    # killer) or crashes the process every time must not loop for ever.
    max_interruptions: int = 25

    def delay_s(self, attempts: int) -> float:
        """Exponential backoff after the given attempt: base * 2^(attempts-1), capped."""
        return min(self.backoff_max_s, self.backoff_base_s * (2 ** max(0, attempts - 1)))

    def with_backoff(self, base_s: float, max_s: float) -> RetryPolicy:
        """The same attempts with the configured backoff (`workers.backoff_*`)."""
        return replace(self, backoff_base_s=base_s, backoff_max_s=max_s)


@dataclass(frozen=True)
class StagePlan:
    """What storage needs to know about a stage: its dependencies, resource and retries."""

    name: str
    requires: tuple[str, ...]
    resource: str
    retry: RetryPolicy = RetryPolicy()

    @property
    def max_attempts(self) -> int:
        return self.retry.max_attempts


@dataclass(frozen=True)
class ClaimedRun:
    """A stage run a worker now owns."""

    id: int
    video_id: int
    stage: str
    attempts: int
    max_attempts: int


def create_stage_runs(session: Session, video_id: int, plans: Iterable[StagePlan]) -> int:
    """Insert the missing stage rows of a video; returns how many were created."""
    existing = set(session.scalars(select(StageRun.stage).where(StageRun.video_id == video_id)))
    now = utcnow()
    created = 0
    for plan in plans:
        if plan.name in existing:
            continue
        session.add(
            StageRun(
                video_id=video_id,
                stage=plan.name,
                resource=plan.resource,
                status=PENDING,
                waiting_on=len(plan.requires),
                max_attempts=plan.max_attempts,
                updated_at=now,
            )
        )
        if not plan.requires:
            notify_work(session, plan.resource)
        created += 1
    session.flush()
    if created and len(existing):
        refresh_waiting(session, video_id, {p.name: p for p in plans})
    return created


_VIDEO_STATES = select(_runs.c.stage, _runs.c.status, _runs.c.waiting_on).where(
    _runs.c.video_id == bindparam("vid")
)
_SET_WAITING = (
    update(_runs)
    .where(_runs.c.video_id == bindparam("vid"), _runs.c.stage == bindparam("stg"))
    .values(waiting_on=bindparam("waiting"))
)


def refresh_waiting(session: Session, video_id: int, plans: Mapping[str, StagePlan]) -> None:
    """Recompute `waiting_on` of a video's pending rows from its other rows' states.

    On PostgreSQL the video's rows are locked first (in id order), so a stage finishing
    meanwhile either counts itself off after this (its `complete` waits for the lock) or
    is seen finished here (the lock returns the committed row).
    """
    query = _VIDEO_STATES
    if dialect_of(session) == "postgresql":
        query = query.order_by(_runs.c.id).with_for_update()
    rows = session.execute(query, {"vid": video_id}).all()
    states = {stage: status for stage, status, _ in rows}
    for stage, status, current in rows:
        if status != PENDING or stage not in plans:
            continue
        waiting = sum(1 for dep in plans[stage].requires if states.get(dep) not in FINISHED_STATES)
        if waiting != current:
            session.execute(_SET_WAITING, {"vid": video_id, "stg": stage, "waiting": waiting})
            if waiting == 0:
                notify_work(session, plans[stage].resource)


def _runnable_query(order_by_due: bool, fresh_literal: bool = False):
    """A claim candidate query built once; per-call values are bound parameters.

    With `fresh_literal`, the fresh query spells out the predicate of the partial index
    ix_stage_runs_claim_fresh, so that PostgreSQL's planner can prove it uses it.
    """
    # Not named after columns: PostgreSQL runs these as subqueries of the claim UPDATE.
    query = select(_runs.c.id).where(
        _runs.c.resource == bindparam("claim_resource"),
        _runs.c.stage.in_(bindparam("claim_stages", expanding=True)),
    )
    if fresh_literal:
        return query.where(text(FRESH_RUN)).order_by(_runs.c.id).limit(1)
    query = query.where(_runs.c.status == PENDING, _runs.c.waiting_on == 0)
    if order_by_due:
        query = query.where(_runs.c.next_attempt_at <= bindparam("now"))
        return query.order_by(_runs.c.next_attempt_at).limit(1)
    return query.where(_runs.c.next_attempt_at.is_(None)).order_by(_runs.c.id).limit(1)


# Two index walks instead of one OR: retries that are due first (oldest due first), then
# fresh work in registration order (the claim index ends in the rowid). On SQLite the
# write lock (`db.write()`) makes a claim atomic. On PostgreSQL the claim is one
# statement: each subquery locks the row it picks and skips rows others have locked, so
# claimers never wait on each other, and the UPDATE takes the due retry, else the fresh run.
_DUE_RETRY = _runnable_query(order_by_due=True)
_FRESH = _runnable_query(order_by_due=False)
_CLAIM_VALUES = {
    "status": RUNNING,
    "worker_id": bindparam("worker_id"),
    "claimed_by": bindparam("claimed_by"),
    "attempts": _runs.c.attempts + 1,
    "started_at": bindparam("now"),
    "heartbeat_at": bindparam("now"),
    "finished_at": None,
    "updated_at": bindparam("now"),
}
_CLAIMED = (_runs.c.id, _runs.c.video_id, _runs.c.stage, _runs.c.attempts, _runs.c.max_attempts)
_CLAIM = (
    update(_runs)
    .where(_runs.c.id == bindparam("run_id"), _runs.c.status == PENDING)
    .values(**_CLAIM_VALUES)
    .returning(*_CLAIMED)
)
_PG_CLAIM = (
    update(_runs)
    .where(
        _runs.c.id
        == func.coalesce(
            _DUE_RETRY.with_for_update(skip_locked=True).scalar_subquery(),
            _runnable_query(order_by_due=False, fresh_literal=True)
            .with_for_update(skip_locked=True)
            .scalar_subquery(),
        ),
        _runs.c.status == PENDING,
    )
    .values(**_CLAIM_VALUES)
    .returning(*_CLAIMED)
)


def claim_next(
    session: Session,
    resource: str,
    worker_id: str,
    stages: Sequence[str] | None = None,
    claimed_by: int | None = None,
) -> ClaimedRun | None:
    """Take the next runnable stage of a resource class, or None.

    Atomic when the session's transaction is a `db.write()`: SQLite's write lock, or
    PostgreSQL's row lock (`FOR UPDATE SKIP LOCKED`) on the run it picks.
    `stages` limits the claim to the stages this daemon runs (None: any); `claimed_by`
    is the claiming process's row in `workers`, whose heartbeat then vouches for the run.
    """
    now = utcnow()
    if stages is None:
        stages = list(session.scalars(select(_runs.c.stage).distinct()))
    params = {
        "claim_resource": resource,
        "claim_stages": list(stages),
        "now": now,
        "worker_id": worker_id,
        "claimed_by": claimed_by,
    }
    if dialect_of(session) == "postgresql":
        row = session.execute(_PG_CLAIM, params).first()
        return ClaimedRun(*row) if row else None
    run_id = session.execute(_DUE_RETRY, params).scalar()
    run_id = run_id or session.execute(_FRESH, params).scalar()
    if run_id is None:
        return None
    row = session.execute(_CLAIM, {**params, "run_id": run_id}).first()
    return ClaimedRun(*row) if row else None


def _duration_s(dialect: str):
    """Seconds from the run's start to the bound `now`, in the dialect's date arithmetic."""
    if dialect == "postgresql":
        return func.extract("epoch", bindparam("now") - _runs.c.started_at)
    return (func.julianday(bindparam("now_text")) - func.julianday(_runs.c.started_at)) * 86400.0


# Bound names differ from column names: an UPDATE adds to its SET every parameter named
# like a column of its table, and the statement below updates the dependents too.
_FINISH_VALUES = {
    "status": bindparam("set_status"),
    "skip_reason": bindparam("set_skip_reason"),
    "backend": bindparam("set_backend"),
    "model": bindparam("set_model"),
    "fingerprint": bindparam("set_fingerprint"),
    "artifact": bindparam("set_artifact"),
    "summary": bindparam("set_summary"),
    "finished_at": bindparam("now"),
    "updated_at": bindparam("now"),
    "last_error": None,
    "error_kind": None,
    "next_attempt_at": None,
    "interruptions": 0,
}
_OWNED_RUNNING = (
    _runs.c.id == bindparam("run_id"),
    _runs.c.status == RUNNING,
    _runs.c.worker_id == bindparam("owner"),
)
# SQLite: the run, then its dependents, in the caller's write transaction.
_FINISH = (
    update(_runs)
    .where(*_OWNED_RUNNING)
    .values(**_FINISH_VALUES, duration_s=_duration_s("sqlite"))
    .returning(_runs.c.video_id, _runs.c.stage)
)
_UNBLOCK = (
    update(_runs)
    .where(
        _runs.c.video_id == bindparam("vid"),
        _runs.c.stage.in_(bindparam("dependents", expanding=True)),
        _runs.c.status == PENDING,
        _runs.c.waiting_on > 0,
    )
    .values(waiting_on=_runs.c.waiting_on - 1)
)


def _pg_complete_statement():
    """PostgreSQL: finish the run, count it off its dependents and announce those now
    runnable, in one statement (one round trip, atomic on its own)."""
    finish = (
        update(_runs)
        .where(*_OWNED_RUNNING)
        .values(**_FINISH_VALUES, duration_s=_duration_s("postgresql"))
        .returning(_runs.c.video_id, _runs.c.stage)
        .cte("finished")
    )
    edges = (
        func.unnest(
            bindparam("edge_deps", type_=ARRAY(String)),
            bindparam("edge_stages", type_=ARRAY(String)),
        )
        .table_valued("dep", "stage")
        .render_derived(name="edges")
    )
    dependents = _runs.alias("dependent")
    unblocked = (
        update(dependents)
        .where(
            dependents.c.video_id == finish.c.video_id,
            edges.c.dep == finish.c.stage,
            dependents.c.stage == edges.c.stage,
            dependents.c.status == PENDING,
            dependents.c.waiting_on > 0,
        )
        .values(waiting_on=dependents.c.waiting_on - 1)
        .returning(dependents.c.resource, dependents.c.waiting_on)
        .cte("unblocked")
    )
    runnable = select(unblocked.c.resource).where(unblocked.c.waiting_on == 0).distinct().subquery()
    announced = select(func.count(func.pg_notify(CHANNEL, runnable.c.resource))).scalar_subquery()
    return select(finish.c.video_id, announced)


_PG_COMPLETE = _pg_complete_statement()


def _dependency_edges(plans: Mapping[str, StagePlan]) -> tuple[list[str], list[str]]:
    """(dependency, stage that requires it) pairs of the plans, as two parallel lists."""
    pairs = [(dep, plan.name) for plan in plans.values() for dep in plan.requires]
    return [dep for dep, _ in pairs], [stage for _, stage in pairs]


def _changed_meanwhile(run_id: int, expect: str, owner: str | None) -> TransitionError:
    return TransitionError(
        f"stage run {run_id}: expected status {expect!r}"
        + (f" owned by {owner}" if owner else "")
        + ", but it has changed (reaped, retried or forgotten meanwhile)"
    )


def guarded_update(
    session: Session, table: Table, row_id: int, expect: str, *, owner: str | None = None, **values
) -> bool:
    """Apply `values` to row `row_id` of `table` only if its `status` is still `expect`
    (and, with `owner`, its `worker_id` is `owner`); True if the row changed."""
    stmt = update(table).where(table.c.id == row_id, table.c.status == expect)
    if owner is not None:
        stmt = stmt.where(table.c.worker_id == owner)
    return session.execute(stmt.values(**values)).rowcount == 1


def _guarded(session: Session, run_id: int, expect: str, owner: str | None, **values) -> None:
    """Apply `values` if the stage run is in state `expect` (owned by `owner`), else raise."""
    if not guarded_update(
        session, _runs, run_id, expect, owner=owner, updated_at=utcnow(), **values
    ):
        raise _changed_meanwhile(run_id, expect, owner)


def complete(
    session: Session,
    run_id: int,
    worker_id: str,
    plans: Mapping[str, StagePlan],
    *,
    skipped: bool = False,
    skip_reason: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    fingerprint: str | None = None,
    artifact: str | None = None,
    summary: str | None = None,
) -> None:
    """running -> done | skipped, then count it off the stages waiting on it.

    The dependents' `waiting_on` is decremented rather than recomputed: two of a stage's
    dependencies finishing in overlapping transactions (two hosts, PostgreSQL's read
    committed) then both count, where each recomputation would see the other still
    running and leave the stage waiting for ever.
    """
    now = utcnow()
    params = {
        "run_id": run_id,
        "owner": worker_id,
        "set_status": SKIPPED if skipped else DONE,
        "set_skip_reason": skip_reason if skipped else None,
        "set_backend": backend,
        "set_model": model,
        "set_fingerprint": fingerprint,
        "set_artifact": artifact,
        "set_summary": summary,
        "now": now,
    }
    if dialect_of(session) == "postgresql":
        deps, stages = _dependency_edges(plans)
        row = session.execute(
            _PG_COMPLETE, {**params, "edge_deps": deps, "edge_stages": stages}
        ).first()
        if row is None:
            raise _changed_meanwhile(run_id, RUNNING, worker_id)
        return
    row = session.execute(_FINISH, {**params, "now_text": now.isoformat(sep=" ")}).first()
    if row is None:
        raise _changed_meanwhile(run_id, RUNNING, worker_id)
    video_id, stage = row
    dependents = [p.name for p in plans.values() if stage in p.requires]
    if dependents:  # nothing to announce: SQLite's idle workers poll
        session.execute(_UNBLOCK, {"vid": video_id, "dependents": dependents})


def fail(
    session: Session,
    run_id: int,
    worker_id: str,
    error: str,
    *,
    permanent: bool,
    retry: RetryPolicy,
    plans: Mapping[str, StagePlan] | None = None,
) -> StageStatus:
    """running -> failed (permanent, or attempts used up) or back to pending after the
    policy's delay. Returns the new status. With `plans`, a failure for good marks the
    stages waiting on it as blocked, with the reason.
    """
    now = utcnow()
    attempts = session.execute(select(_runs.c.attempts).where(_runs.c.id == run_id)).scalar_one()
    if permanent or attempts >= retry.max_attempts:
        if plans is not None:
            block_downstream(session, run_id, error, plans)
        _guarded(
            session,
            run_id,
            RUNNING,
            worker_id,
            status=FAILED,
            last_error=error,
            error_kind=ErrorKind.PERMANENT if permanent else ErrorKind.EXHAUSTED,
            finished_at=now,
            next_attempt_at=None,
        )
        return FAILED
    _guarded(
        session,
        run_id,
        RUNNING,
        worker_id,
        status=PENDING,
        last_error=error,
        error_kind=ErrorKind.TRANSIENT,
        worker_id=None,
        next_attempt_at=now + timedelta(seconds=retry.delay_s(attempts)),
    )
    return PENDING


def block_downstream(
    session: Session, run_id: int, error: str, plans: Mapping[str, StagePlan]
) -> int:
    """Mark the pending stages downstream of a failed run as blocked, saying why."""
    video_id, stage = session.execute(
        select(_runs.c.video_id, _runs.c.stage).where(_runs.c.id == run_id)
    ).one()
    below = sorted(downstream_of([stage], plans) - {stage})
    if not below:
        return 0
    reason = f"blocked: {stage} failed ({error[:300]}); `lprd retry` after fixing it"
    result = session.execute(
        update(_runs)
        .where(_runs.c.video_id == video_id, _runs.c.stage.in_(below))
        .where(_runs.c.status == PENDING)
        .values(error_kind=ErrorKind.BLOCKED, last_error=reason, updated_at=utcnow())
    )
    return result.rowcount


def _give_back(session: Session, run_id: int, owner: str | None, **values) -> None:
    """running -> pending, the attempt given back (the stage is not to blame), plus
    `values` (when it is due again, why)."""
    _guarded(
        session,
        run_id,
        RUNNING,
        owner,
        status=PENDING,
        worker_id=None,
        attempts=_runs.c.attempts - 1,
        **values,
    )


def defer(session: Session, run_id: int, worker_id: str, reason: str, retry_after_s: float) -> None:
    """running -> pending later, without using an attempt (e.g. no model promoted yet)."""
    _give_back(
        session,
        run_id,
        worker_id,
        last_error=reason,
        error_kind=ErrorKind.WAITING,
        next_attempt_at=utcnow() + timedelta(seconds=retry_after_s),
    )


def release(session: Session, run_id: int, worker_id: str) -> None:
    """running -> pending at once, giving the attempt back (graceful stop)."""
    _give_back(session, run_id, worker_id, heartbeat_at=None, next_attempt_at=None)
    notify_work(session)


def heartbeat(session: Session, claims: Sequence[ClaimedRun], owners: Sequence[str]) -> int:
    """Refresh the heartbeat of the runs workers are working on now; returns how many.

    Only the claims a worker holds at this moment beat: a row a worker let go of
    without a transition (it never should) goes stale and the reaper takes it.
    """
    if not claims:
        return 0
    pairs = list(zip([c.id for c in claims], owners, strict=True))
    result = session.execute(
        update(_runs)
        .where(_runs.c.status == RUNNING)
        .where(or_(*[(_runs.c.id == rid) & (_runs.c.worker_id == own) for rid, own in pairs]))
        .values(heartbeat_at=utcnow())
    )
    return result.rowcount


@dataclass(frozen=True)
class ReapReport:
    """What a reap did: runs returned to pending and runs failed for good."""

    requeued: int
    failed: int


def running_worker_ids(session: Session) -> set[str]:
    """Worker ids that own a running stage run."""
    rows = session.execute(
        select(_runs.c.worker_id).where(_runs.c.status == RUNNING).distinct()
    ).scalars()
    return {w for w in rows if w}


def reap_stale(
    session: Session,
    *,
    older_than: datetime | None = None,
    worker_ids: Sequence[str] | None = None,
    claimed_by: Sequence[int] | None = None,
    plans: Mapping[str, StagePlan] | None = None,
) -> ReapReport:
    """Return runs left `running` by dead workers to pending, giving their attempt back.

    The death of a process (kill -9, the OOM killer) is not the stage's fault, so it is
    counted as an interruption, not an attempt; only a stage whose process died
    `max_interruptions` times in a row while it ran is failed for good (it is likely the
    one crashing it). `older_than` selects runs whose heartbeat is older (the periodic
    reaper); `worker_ids` selects runs of worker threads known to be dead (start-up);
    `claimed_by` runs claimed by daemon processes known to be dead (`workers` rows). A
    run matching any of those given is reaped.
    """
    selectors = []
    if older_than is not None:
        selectors.append(_runs.c.heartbeat_at.is_(None))
        selectors.append(_runs.c.heartbeat_at < older_than)
    if worker_ids:
        selectors.append(_runs.c.worker_id.in_(list(worker_ids)))
    if claimed_by:
        selectors.append(_runs.c.claimed_by.in_(list(claimed_by)))
    if not selectors:
        return ReapReport(0, 0)
    query = select(_runs.c.id, _runs.c.stage, _runs.c.interruptions, _runs.c.worker_id)
    query = query.where(_runs.c.status == RUNNING, or_(*selectors))
    requeued = failed = 0
    for run_id, stage, interruptions, worker in session.execute(query).all():
        plan = (plans or {}).get(stage)
        limit = (plan.retry if plan else RetryPolicy()).max_interruptions
        if interruptions + 1 >= limit:
            _fail_crashing(session, run_id, interruptions + 1, worker, plans)
            failed += 1
        else:
            _requeue_interrupted(session, run_id, interruptions + 1, limit, worker)
            requeued += 1
    if requeued:
        notify_work(session)
    return ReapReport(requeued=requeued, failed=failed)


def _fail_crashing(
    session: Session,
    run_id: int,
    interruptions: int,
    worker: str | None,
    plans: Mapping[str, StagePlan] | None,
) -> None:
    """A run whose process died `interruptions` times in a row: failed for good, and what
    waits on it blocked."""
    if plans is not None:
        block_downstream(session, run_id, f"its process died {interruptions} times", plans)
    _guarded(
        session,
        run_id,
        RUNNING,
        None,
        status=FAILED,
        error_kind=ErrorKind.CRASHING,
        interruptions=interruptions,
        finished_at=utcnow(),
        last_error=(
            f"the process died {interruptions} times in a row while this stage ran "
            f"(last worker {worker}); the stage may be crashing it: check the "
            "daemon log, then `lprd retry`"
        ),
    )


def _requeue_interrupted(
    session: Session, run_id: int, interruptions: int, limit: int, worker: str | None
) -> None:
    """A run whose worker died: back to pending, the attempt given back, the interruption
    counted."""
    _give_back(
        session,
        run_id,
        None,
        interruptions=interruptions,
        heartbeat_at=None,
        next_attempt_at=None,
        last_error=(
            f"interrupted: worker {worker} died while running this stage "
            f"({interruptions} of {limit} before the stage is blamed); requeued "
            "without using an attempt"
        ),
        error_kind=ErrorKind.REAPED,
    )


def downstream_of(stages: Iterable[str], plans: Mapping[str, StagePlan]) -> set[str]:
    """The given stages plus every stage that depends on them, transitively."""
    result = set(stages)
    changed = True
    while changed:
        changed = False
        for plan in plans.values():
            if plan.name not in result and any(dep in result for dep in plan.requires):
                result.add(plan.name)
                changed = True
    return result


def requeue(
    session: Session,
    plans: Mapping[str, StagePlan],
    *,
    video_ids: Iterable[int] | None = None,
    stages: Iterable[str] | None = None,
    only_status: Sequence[str] | None = None,
) -> int:
    """Reset the selected finished or failed runs and everything downstream to pending.

    Running rows are left alone (their worker finishes them). Returns rows reset.
    """
    query = select(_runs.c.video_id, _runs.c.stage).where(_runs.c.status != RUNNING)
    if video_ids is not None:
        query = query.where(_runs.c.video_id.in_(list(video_ids)))
    if stages is not None:
        query = query.where(_runs.c.stage.in_(list(stages)))
    if only_status is not None:
        query = query.where(_runs.c.status.in_(list(only_status)))
    targets: dict[int, set[str]] = {}
    for video_id, stage in session.execute(query).all():
        targets.setdefault(video_id, set()).add(stage)
    count = 0
    for video_id, video_stages in targets.items():
        result = session.execute(
            update(_runs)
            .where(_runs.c.video_id == video_id)
            .where(_runs.c.stage.in_(sorted(downstream_of(video_stages, plans))))
            .where(_runs.c.status != RUNNING)
            .values(
                status=PENDING,
                attempts=0,
                interruptions=0,
                last_error=None,
                error_kind=None,
                skip_reason=None,
                worker_id=None,
                next_attempt_at=None,
                finished_at=None,
                updated_at=utcnow(),
            )
        )
        count += result.rowcount
        refresh_waiting(session, video_id, plans)
    if count:
        notify_work(session)
    return count


def requeue_changed_fingerprints(
    session: Session, plans: Mapping[str, StagePlan], fingerprints: Mapping[str, str]
) -> int:
    """Re-queue finished runs whose stage fingerprint changed (new model, template...)."""
    total = 0
    for stage, fingerprint in fingerprints.items():
        stale = session.scalars(
            select(_runs.c.video_id)
            .where(_runs.c.stage == stage)
            .where(_runs.c.status.in_(FINISHED_STATES))
            .where(or_(_runs.c.fingerprint.is_(None), _runs.c.fingerprint != fingerprint))
        ).all()
        if stale:
            total += requeue(session, plans, video_ids=stale, stages=[stage])
    return total


def wake_waiting(session: Session, stages: Iterable[str] | None = None) -> int:
    """Make deferred runs of these stages (of every stage for None) due now: what they
    waited for may have come (a changed input, a promoted model)."""
    query = update(_runs).where(_runs.c.status == PENDING, _runs.c.error_kind == ErrorKind.WAITING)
    if stages is not None:
        query = query.where(_runs.c.stage.in_(list(stages)))
    result = session.execute(query.values(next_attempt_at=None, updated_at=utcnow()))
    if result.rowcount:
        notify_work(session)
    return result.rowcount
