"""The queue on PostgreSQL: claims lock rows with SKIP LOCKED (many claimers, threads and
processes, never one run twice, never waiting on a locked row), and idle workers wake on
LISTEN/NOTIFY long before their poll interval."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from daemon.config import Config, load_config
from daemon.pipeline import Pipeline
from daemon.runtime.worker import Services, Worker
from daemon.stages.base import Stage, StageResult
from daemon.wakeup import Wakeup
from storage import transitions as tr
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import DONE, StageRun
from storage.notify import ANY, WorkListener
from storage.videos import register_video
from tests.storage.test_transitions import PLANS, add_videos
from tests.support.daemon_proc import wait_for

ONE_STAGE = {"a": PLANS["a"]}


@pytest.fixture
def pg_db(pg_url: str):
    db = Database(pg_url, busy_timeout_ms=10_000)
    yield db
    db.dispose()


def claim_all(url: str, name: str, start, out) -> None:
    """Claim and complete runs of stage a until none is left; the ids claimed go to `out`
    (a list or a queue). Every claimer waits at the `start` barrier first."""
    db = Database(url, busy_timeout_ms=5000)  # own engine and connections: another worker
    claimed = []
    with db.read() as session:
        session.execute(text("SELECT 1"))  # connected before the start
    start.wait(60)
    try:
        while True:
            with db.write() as session:
                run = tr.claim_next(session, "cpu", name)
            if run is None:
                break
            claimed.append(run.id)
            with db.write() as session:
                tr.complete(session, run.id, name, ONE_STAGE)
    finally:
        db.dispose()
    if isinstance(out, list):
        out.extend(claimed)
    else:
        out.put(claimed)


def test_many_claimers_threads_and_processes_never_claim_a_run_twice(pg_db, pg_url) -> None:
    add_videos(pg_db, 300, ONE_STAGE)
    mp = multiprocessing.get_context("spawn")
    start, results = mp.Barrier(4 + 4), mp.Queue()
    processes = [
        mp.Process(target=claim_all, args=(pg_url, f"p{i}", start, results)) for i in range(4)
    ]
    by_threads: list[int] = []
    threads = [
        threading.Thread(target=claim_all, args=(pg_url, f"t{i}", start, by_threads))
        for i in range(4)
    ]
    for claimer in processes + threads:
        claimer.start()
    by_processes = [run_id for _ in processes for run_id in results.get(timeout=120)]
    for claimer in processes + threads:
        claimer.join(30)
    claimed = by_threads + by_processes
    assert len(claimed) == 300 and len(set(claimed)) == 300
    assert by_processes and by_threads, "one kind of claimer got nothing: no race was tested"
    with pg_db.read() as session:
        runs = session.scalars(select(StageRun)).all()
    assert {r.status for r in runs} == {DONE}
    assert {r.attempts for r in runs} == {1}, "a run was claimed more than once"


def test_a_claimer_skips_the_row_another_one_has_locked(pg_db) -> None:
    first, second = add_videos(pg_db, 2, ONE_STAGE)  # also opens pg_db's connection
    other = Database(pg_db.url)
    try:
        with other.write() as locker:
            # Another claimer in the middle of its claim: it holds the first run's row.
            locker.execute(
                text("SELECT id FROM stage_runs WHERE video_id = :v FOR UPDATE"), {"v": first}
            )
            start = time.monotonic()
            with pg_db.write() as session:
                run = tr.claim_next(session, "cpu", "w2")
            waited = time.monotonic() - start
    finally:
        other.dispose()
    assert run is not None and run.video_id == second
    # Waiting for the lock would last until the locker commits (here: never before the
    # 10 s lock timeout); skipping it takes one statement.
    assert waited < 2.0, f"the claim waited {waited:.2f} s on a locked row"


def pg_config(tmp_path: Path, url: str) -> Config:
    config = load_config(home=tmp_path / "home", env={})
    config.database.url = url
    config.workers.poll_interval_s = 30.0
    return config


def test_the_listener_hears_work_committed_by_another_connection(pg_db, pg_url) -> None:
    heard: list[str] = []
    stop = threading.Event()
    listener = WorkListener(pg_db, heard.append, stop)
    listener.start()
    try:
        assert listener.listening.wait(10)
        assert wait_for(lambda: heard == [ANY], timeout=5)  # after connecting: look once
        other = Database(pg_url)
        with other.write() as session:
            register_video(
                session, sha256="e" * 64, name="e.mp4", path="/x/e.mp4", size_bytes=1,
                plans=ONE_STAGE.values(),
            )  # fmt: skip
            time.sleep(0.3)
            assert heard == [ANY], "announced before the commit"
        other.dispose()
        assert wait_for(lambda: heard == [ANY, "cpu"], timeout=5)
    finally:
        stop.set()
        listener.join(5)


def test_an_idle_worker_wakes_long_before_its_poll_interval(tmp_path, pg_db, pg_url) -> None:
    config = pg_config(tmp_path, pg_url)

    def quick(_ctx) -> StageResult:
        return StageResult(data={"ok": True}, backend="test")

    pipeline = Pipeline([Stage("quick", quick)])
    stop = threading.Event()
    wakeup = Wakeup(stop)
    wakeup.listen(pg_db)
    store = ArtifactStore(config.store_dir)
    services = Services(config, pg_db, store, None, pipeline, {}, stop, wakeup)
    worker = Worker(services, "cpu", 0)
    assert wakeup.listener.listening.wait(10)
    worker.start()
    try:
        time.sleep(1.0)  # the worker found nothing and waits (its poll is 30 s)
        other = Database(pg_url)
        start = time.monotonic()
        add_videos(other, 1, pipeline.plans)
        other.dispose()
        assert wait_for(lambda: _statuses(pg_db) == {DONE}, timeout=10, interval=0.05)
        woke_after = time.monotonic() - start
    finally:
        wakeup.stop()
        worker.join(10)
    assert not worker.is_alive(), "the stop did not wake the idle worker"
    assert woke_after < 3.0, f"took {woke_after:.1f} s with a 30 s poll"


def _statuses(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(StageRun.status)))


def test_without_postgresql_binaries_the_reason_names_what_is_missing(monkeypatch) -> None:
    from tests.support import pg_server

    monkeypatch.delenv(pg_server.BIN_ENV, raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(pg_server.glob, "glob", lambda _pattern: [])
    with pytest.raises(pg_server.PgUnavailableError, match="`postgresql` package"):
        pg_server.PgServer.start()


JOIN = {
    "a": tr.StagePlan("a", (), "cpu"),
    "b": tr.StagePlan("b", (), "gpu"),
    "d": tr.StagePlan("d", ("a", "b"), "cpu"),
}


def _wait_for_lock_wait(db: Database, timeout: float = 3.0) -> bool:
    """True once a backend of the database waits on a lock (the second completer)."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as session:
            if session.execute(query).scalar():
                return True
        time.sleep(0.02)
    return False


def test_two_dependencies_finishing_at_once_both_count(pg_db, pg_url) -> None:
    """Two workers finish the two stages a third one waits on, in overlapping
    transactions: the waiting stage must become claimable, not stay waiting on one."""
    (video,) = add_videos(pg_db, 1, JOIN)
    with pg_db.write() as session:
        first = tr.claim_next(session, "cpu", "w1", ["a"])
    with pg_db.write() as session:
        second = tr.claim_next(session, "gpu", "w2", ["b"])
    other = Database(pg_url)
    errors: list[BaseException] = []

    def finish_second() -> None:
        try:
            with other.write() as session:
                tr.complete(session, second.id, "w2", JOIN)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    try:
        with pg_db.write() as session:
            tr.complete(session, first.id, "w1", JOIN)
            thread = threading.Thread(target=finish_second)
            thread.start()
            _wait_for_lock_wait(pg_db)  # the second completer is inside its transaction
        thread.join(30)
    finally:
        other.dispose()
    assert not errors, errors
    with pg_db.read() as session:
        waiting = session.execute(
            select(StageRun.waiting_on).where(StageRun.video_id == video, StageRun.stage == "d")
        ).scalar_one()
    assert waiting == 0, f"d still waits on {waiting} finished stage(s)"
    with pg_db.write() as session:
        assert tr.claim_next(session, "cpu", "w3", ["d"]) is not None


def test_a_write_after_an_autocommitted_transition_is_one_transaction_again(pg_db) -> None:
    """`transition()` autocommits on PostgreSQL; the pooled connection it used must come
    back to `write()` transactional, or a failed multi-statement write would half-land."""
    video, _ = add_videos(pg_db, 2, ONE_STAGE)
    with pg_db.transition() as session:  # the pool's one connection, autocommitting
        session.execute(text("SELECT 1"))
    with pytest.raises(RuntimeError), pg_db.write() as session:
        session.execute(
            text("UPDATE stage_runs SET attempts = 7 WHERE video_id = :v"), {"v": video}
        )
        raise RuntimeError("a failure half-way through a write")
    with pg_db.read() as session:
        attempts = session.execute(
            select(StageRun.attempts).where(StageRun.video_id == video)
        ).scalar_one()
    assert attempts == 0
