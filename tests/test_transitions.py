"""Guarded stage-run transitions on a real SQLite database built by the migrations."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage import transitions as tr
from storage.db import Database, utcnow
from storage.models import DONE, FAILED, PENDING, RUNNING, SKIPPED, StageRun
from storage.videos import register_video

PLANS = {
    "a": tr.StagePlan("a", (), "cpu", 3),
    "b": tr.StagePlan("b", ("a",), "cpu", 2),
    "c": tr.StagePlan("c", ("b",), "gpu", 3),
}


def add_videos(db: Database, n: int, plans=PLANS) -> list[int]:  # noqa: ANN001
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


def status_of(db: Database, video_id: int, stage: str) -> StageRun:
    with db.read() as session:
        return session.execute(
            select(StageRun).where(StageRun.video_id == video_id, StageRun.stage == stage)
        ).scalar_one()


def test_dependencies_gate_claims(database: Database) -> None:
    [vid] = add_videos(database, 1)
    first = tr.claim_next(database, "cpu", "w1")
    assert first is not None and first.stage == "a"
    assert tr.claim_next(database, "cpu", "w1") is None  # b waits for a
    tr.complete(database, first.id, "w1", PLANS, backend="x")
    second = tr.claim_next(database, "cpu", "w1")
    assert second.stage == "b"
    tr.complete(database, second.id, "w1", PLANS, skipped=True, skip_reason="nothing")
    assert status_of(database, vid, "b").status == SKIPPED
    assert tr.claim_next(database, "cpu", "w1") is None  # c is a gpu stage
    third = tr.claim_next(database, "gpu", "g1")
    assert third.stage == "c"  # skipped counts as done downstream


def test_two_workers_never_claim_the_same_run(database: Database, config) -> None:  # noqa: ANN001
    add_videos(database, 60, {"a": PLANS["a"]})
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        db = Database.at(config.database_path)  # own connection, as another worker process
        while (run := tr.claim_next(db, "cpu", name)) is not None:
            with lock:
                claimed.append(run.id)
            tr.complete(db, run.id, name, PLANS)
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
    run = tr.claim_next(database, "cpu", "w1")
    tr.reap_stale(database, worker_ids=["w1"])  # the reaper decided w1 is dead
    with pytest.raises(tr.TransitionError):
        tr.complete(database, run.id, "w1", PLANS)
    again = tr.claim_next(database, "cpu", "w2")
    assert again.id == run.id and again.attempts == 2
    with pytest.raises(tr.TransitionError):
        tr.complete(database, run.id, "w1", PLANS)  # wrong owner
    tr.complete(database, run.id, "w2", PLANS)


def test_transient_errors_retry_with_backoff_then_fail(database: Database) -> None:
    [vid] = add_videos(database, 1)
    run = tr.claim_next(database, "cpu", "w")
    assert tr.fail(database, run.id, "w", "busy", permanent=False, retry_delay_s=3600) == PENDING
    assert tr.claim_next(database, "cpu", "w") is None  # not before next_attempt_at
    with database.write() as session:
        session.get(StageRun, run.id).next_attempt_at = utcnow() - timedelta(seconds=1)
    for attempt in (2, 3):
        run = tr.claim_next(database, "cpu", "w")
        assert run.attempts == attempt
        status = tr.fail(database, run.id, "w", "still busy", permanent=False, retry_delay_s=0)
    assert status == FAILED
    row = status_of(database, vid, "a")
    assert row.error_kind == "exhausted" and row.last_error == "still busy"


def test_permanent_error_fails_at_once(database: Database) -> None:
    [vid] = add_videos(database, 1)
    run = tr.claim_next(database, "cpu", "w")
    assert tr.fail(database, run.id, "w", "corrupt", permanent=True, retry_delay_s=0) == FAILED
    assert status_of(database, vid, "a").attempts == 1
    assert tr.claim_next(database, "cpu", "w") is None  # b stays blocked


def test_release_and_defer_give_the_attempt_back(database: Database) -> None:
    [vid] = add_videos(database, 1)
    run = tr.claim_next(database, "cpu", "w")
    tr.release(database, run.id, "w")
    row = status_of(database, vid, "a")
    assert (row.status, row.attempts) == (PENDING, 0)
    run = tr.claim_next(database, "cpu", "w")
    tr.defer(database, run.id, "w", "no model yet", retry_after_s=600)
    row = status_of(database, vid, "a")
    assert (row.status, row.attempts, row.error_kind) == (PENDING, 0, "waiting")
    assert tr.claim_next(database, "cpu", "w") is None


def test_reap_fails_runs_whose_attempts_are_spent(database: Database) -> None:
    [vid] = add_videos(database, 1, {"a": tr.StagePlan("a", (), "cpu", 1)})
    tr.claim_next(database, "cpu", "dead")
    report = tr.reap_stale(database, older_than=utcnow() + timedelta(seconds=1))
    assert report == tr.ReapReport(requeued=0, failed=1)
    row = status_of(database, vid, "a")
    assert row.status == FAILED and "died" in row.last_error


def test_heartbeat_keeps_live_runs_from_the_reaper(database: Database) -> None:
    add_videos(database, 1)
    tr.claim_next(database, "cpu", "alive")
    cutoff = utcnow()
    assert tr.heartbeat(database, ["alive"]) == 1
    assert tr.reap_stale(database, older_than=cutoff) == tr.ReapReport(0, 0)
    assert status_of(database, 1, "a").status == RUNNING


def test_requeue_resets_downstream_and_fingerprint_changes(database: Database) -> None:
    [vid] = add_videos(database, 1)
    for resource, stage in (("cpu", "a"), ("cpu", "b"), ("gpu", "c")):
        run = tr.claim_next(database, resource, "w")
        assert run.stage == stage
        tr.complete(database, run.id, "w", PLANS, fingerprint=f"fp-{stage}")
    changed = tr.requeue_changed_fingerprints(
        database, PLANS, {"a": "fp-a", "b": "new", "c": "fp-c"}
    )
    assert changed == 2  # b and everything after it
    assert status_of(database, vid, "a").status == DONE
    assert status_of(database, vid, "b").status == PENDING
    assert status_of(database, vid, "c").waiting_on == 1
    with database.write() as session:
        assert tr.requeue(session, PLANS, stages=["a"]) == 3


def test_wake_waiting_makes_deferred_runs_due(database: Database) -> None:
    [vid] = add_videos(database, 1)
    run = tr.claim_next(database, "cpu", "w")
    tr.defer(database, run.id, "w", "no model yet", retry_after_s=3600)
    assert tr.claim_next(database, "cpu", "w") is None
    assert tr.wake_waiting(database, ["a"]) == 1
    again = tr.claim_next(database, "cpu", "w")
    assert again is not None and again.id == run.id and again.attempts == 1
