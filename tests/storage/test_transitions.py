"""Guarded stage-run transitions on real databases built by the migrations: SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage import transitions as tr
from storage.db import Database, utcnow
from storage.models import DONE, FAILED, PENDING, RUNNING, SKIPPED, StageRun
from storage.videos import register_video

pytestmark = pytest.mark.both_backends

PLANS = {
    "a": tr.StagePlan("a", (), "cpu", tr.RetryPolicy(3)),
    "b": tr.StagePlan("b", ("a",), "cpu", tr.RetryPolicy(2)),
    "c": tr.StagePlan("c", ("b",), "gpu", tr.RetryPolicy(3)),
}


def add_videos(db: Database, n: int, plans=PLANS) -> list[int]:
    ids = []
    with db.write() as session:
        for i in range(n):
            reg = register_video(
                session,
                sha256=f"{i:064x}",
                name=f"v{i}.mp4",
                path=f"/x/v{i}.mp4",
                size_bytes=1,
                plans=plans.values(),
            )
            ids.append(reg.video_id)
    return ids


def write(db: Database, transition, *args, **kwargs):
    """Run one transition in its own write transaction, as the daemon does."""
    with db.write() as session:
        return transition(session, *args, **kwargs)


def claim(db: Database, resource: str, worker: str) -> tr.ClaimedRun | None:
    return write(db, tr.claim_next, resource, worker)


def complete(db: Database, run_id: int, worker: str, **fields) -> None:
    write(db, tr.complete, run_id, worker, PLANS, **fields)


def fail(db: Database, run_id: int, worker: str, error: str, *, permanent: bool, delay_s: float):
    """Fail with stage a's attempts and a fixed retry delay."""
    retry = tr.RetryPolicy(PLANS["a"].max_attempts, backoff_base_s=delay_s, backoff_max_s=delay_s)
    return write(db, tr.fail, run_id, worker, error, permanent=permanent, retry=retry)


def status_of(db: Database, video_id: int, stage: str) -> StageRun:
    with db.read() as session:
        return session.execute(
            select(StageRun).where(StageRun.video_id == video_id, StageRun.stage == stage)
        ).scalar_one()


def test_dependencies_gate_claims(database: Database) -> None:
    [vid] = add_videos(database, 1)
    first = claim(database, "cpu", "w1")
    assert first is not None and first.stage == "a"
    assert claim(database, "cpu", "w1") is None  # b waits for a
    complete(database, first.id, "w1", backend="x")
    second = claim(database, "cpu", "w1")
    assert second.stage == "b"
    complete(database, second.id, "w1", skipped=True, skip_reason="nothing")
    assert status_of(database, vid, "b").status == SKIPPED
    assert claim(database, "cpu", "w1") is None  # c is a gpu stage
    third = claim(database, "gpu", "g1")
    assert third.stage == "c"  # skipped counts as done downstream


def test_two_workers_never_claim_the_same_run(database: Database, config) -> None:
    add_videos(database, 60, {"a": PLANS["a"]})
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        db = Database(config.database_url)  # own connection, as another worker process
        while (run := claim(db, "cpu", name)) is not None:
            with lock:
                claimed.append(run.id)
            complete(db, run.id, name)
        db.dispose()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 60
    assert len(set(claimed)) == 60
    with database.read() as session:
        runs = session.scalars(select(StageRun)).all()
    assert {r.status for r in runs} == {DONE}
    assert {r.attempts for r in runs} == {1}


def test_guard_rejects_a_stale_worker(database: Database) -> None:
    add_videos(database, 1)
    run = claim(database, "cpu", "w1")
    write(database, tr.reap_stale, worker_ids=["w1"])  # the reaper decided w1 is dead
    with pytest.raises(tr.TransitionError):
        complete(database, run.id, "w1")
    again = claim(database, "cpu", "w2")
    # A dead worker is an interruption, not an attempt of the stage.
    assert again.id == run.id and again.attempts == 1
    assert status_of(database, 1, "a").interruptions == 1
    with pytest.raises(tr.TransitionError):
        complete(database, run.id, "w1")  # wrong owner
    complete(database, run.id, "w2")


def test_transient_errors_retry_with_backoff_then_fail(database: Database) -> None:
    [vid] = add_videos(database, 1)
    run = claim(database, "cpu", "w")
    assert fail(database, run.id, "w", "busy", permanent=False, delay_s=3600) == PENDING
    assert claim(database, "cpu", "w") is None  # not before next_attempt_at
    with database.write() as session:
        session.get(StageRun, run.id).next_attempt_at = utcnow() - timedelta(seconds=1)
    for attempt in (2, 3):
        run = claim(database, "cpu", "w")
        assert run.attempts == attempt
        status = fail(database, run.id, "w", "still busy", permanent=False, delay_s=0)
    assert status == FAILED
    row = status_of(database, vid, "a")
    assert row.error_kind == "exhausted" and row.last_error == "still busy"


def test_permanent_error_fails_at_once(database: Database) -> None:
    [vid] = add_videos(database, 1)
    run = claim(database, "cpu", "w")
    assert fail(database, run.id, "w", "corrupt", permanent=True, delay_s=0) == FAILED
    assert status_of(database, vid, "a").attempts == 1
    assert claim(database, "cpu", "w") is None  # b stays blocked


def test_release_and_defer_give_the_attempt_back(database: Database) -> None:
    [vid] = add_videos(database, 1)
    run = claim(database, "cpu", "w")
    write(database, tr.release, run.id, "w")
    row = status_of(database, vid, "a")
    assert (row.status, row.attempts) == (PENDING, 0)
    run = claim(database, "cpu", "w")
    write(database, tr.defer, run.id, "w", "no model yet", retry_after_s=600)
    row = status_of(database, vid, "a")
    assert (row.status, row.attempts, row.error_kind) == (PENDING, 0, "waiting")
    assert claim(database, "cpu", "w") is None


def test_reap_fails_a_stage_whose_process_keeps_dying(database: Database) -> None:
    policy = tr.RetryPolicy(max_attempts=1, max_interruptions=2)
    plans = {"a": tr.StagePlan("a", (), "cpu", policy)}
    [vid] = add_videos(database, 1, plans)
    late = utcnow() + timedelta(seconds=1)
    claim(database, "cpu", "dead")
    report = write(database, tr.reap_stale, older_than=late, plans=plans)
    assert report == tr.ReapReport(requeued=1, failed=0)  # one attempt allowed, none used
    claim(database, "cpu", "dead again")
    report = write(database, tr.reap_stale, older_than=late, plans=plans)
    assert report == tr.ReapReport(requeued=0, failed=1)
    row = status_of(database, vid, "a")
    assert (
        row.status == FAILED and row.error_kind == "crashing" and "died 2 times" in row.last_error
    )


def test_heartbeat_keeps_live_runs_from_the_reaper(database: Database) -> None:
    add_videos(database, 1)
    run = claim(database, "cpu", "alive")
    cutoff = utcnow()
    assert write(database, tr.heartbeat, [run], ["alive"]) == 1
    assert write(database, tr.reap_stale, older_than=cutoff) == tr.ReapReport(0, 0)
    assert status_of(database, 1, "a").status == RUNNING


def test_requeue_resets_downstream_and_fingerprint_changes(database: Database) -> None:
    [vid] = add_videos(database, 1)
    for resource, stage in (("cpu", "a"), ("cpu", "b"), ("gpu", "c")):
        run = claim(database, resource, "w")
        assert run.stage == stage
        complete(database, run.id, "w", fingerprint=f"fp-{stage}")
    changed = write(
        database, tr.requeue_changed_fingerprints, PLANS, {"a": "fp-a", "b": "new", "c": "fp-c"}
    )
    assert changed == 2  # b and everything after it
    assert status_of(database, vid, "a").status == DONE
    assert status_of(database, vid, "b").status == PENDING
    assert status_of(database, vid, "c").waiting_on == 1
    with database.write() as session:
        assert tr.requeue(session, PLANS, stages=["a"]) == 3


def test_wake_waiting_makes_deferred_runs_due(database: Database) -> None:
    [vid] = add_videos(database, 1)
    run = claim(database, "cpu", "w")
    write(database, tr.defer, run.id, "w", "no model yet", retry_after_s=3600)
    assert claim(database, "cpu", "w") is None
    assert write(database, tr.wake_waiting, ["a"]) == 1
    again = claim(database, "cpu", "w")
    assert again is not None and again.id == run.id and again.attempts == 1
    write(database, tr.defer, again.id, "w", "no model yet", retry_after_s=3600)
    assert write(database, tr.wake_waiting, ["b"]) == 0
    assert write(database, tr.wake_waiting) == 1  # every stage: what a promotion does
    assert claim(database, "cpu", "w").id == run.id


def test_retry_policy_doubles_the_delay_up_to_its_cap() -> None:
    policy = tr.RetryPolicy(max_attempts=5, backoff_base_s=30, backoff_max_s=100)
    assert [policy.delay_s(n) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]
    configured = policy.with_backoff(1, 4)
    assert (configured.max_attempts, configured.delay_s(3)) == (5, 4)


def test_training_runs_close_through_the_same_guard(database: Database) -> None:
    from daemon.learn.jobs.supervisor import finish_run
    from storage.models import TrainingRun
    from storage.states import TrainingStatus

    with database.write() as session:
        run = TrainingRun(status=TrainingStatus.RUNNING, trigger="manual", started_at=utcnow())
        session.add(run)
        session.flush()
        run_id = run.id
    assert write(database, finish_run, run_id, TrainingStatus.DONE, None, "v1")
    # A late watcher that saw the child exit cannot overwrite the closed run.
    assert not write(database, finish_run, run_id, TrainingStatus.FAILED, "exit code 1")
    with database.read() as session:
        row = session.get(TrainingRun, run_id)
        assert (row.status, row.error, row.model_version) == ("done", None, "v1")


def test_a_permanent_failure_blocks_its_downstream_stages_visibly(database: Database) -> None:
    from daemon.runtime.status import gather_status

    [vid, other] = add_videos(database, 2)
    run = claim(database, "cpu", "w")
    write(
        database,
        tr.fail,
        run.id,
        "w",
        "corrupt file",
        permanent=True,
        retry=tr.RetryPolicy(),
        plans=PLANS,
    )
    for stage in ("b", "c"):
        row = status_of(database, vid, stage)
        assert row.status == PENDING and row.error_kind == "blocked"
        assert "a failed" in row.last_error and "corrupt file" in row.last_error
    assert status_of(database, other, "b").error_kind is None
    report = gather_status(database, ["a", "b", "c"])
    assert report["remaining_stage_runs"] == 3  # the other video's a, b, c; not the blocked two
    assert {s["stage"]: s["blocked"] for s in report["stages"]} == {"a": 0, "b": 1, "c": 1}
    write(database, tr.requeue, PLANS, video_ids=[vid])  # `lprd retry` unblocks them
    assert status_of(database, vid, "b").error_kind is None
