"""Several daemons on one database: worker registration and heartbeats, reaping the work of
dead processes (own host at once by pid, any host after the stale interval), partial files
on a shared store, the inbox's advisory lock, the train role and per-host status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from daemon.config import Config
from daemon.runtime.cluster import Membership
from daemon.runtime.status import gather_status
from daemon.runtime.status_view import render_status
from storage import transitions as tr
from storage import workers
from storage.artifacts import ArtifactStore, partial_tag
from storage.db import Database, utcnow
from storage.locks import try_lock
from storage.models import StageRun, TrainingRun, WorkerProcess
from tests.storage.test_transitions import PLANS, add_videos, status_of

pytestmark = pytest.mark.both_backends
OTHER_HOST = "gpu-node-7"


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def add_worker(db: Database, host: str, pid: int, beat_age_s: float = 0.0) -> int:
    """A `workers` row as another daemon would have registered it, beating `beat_age_s` ago."""
    now = utcnow()
    with db.write() as session:
        row = WorkerProcess(
            host=host,
            pid=pid,
            roles="inbox,stages,train",
            version="0.1.0",
            state="running",
            started_at=now - timedelta(seconds=beat_age_s + 60),
            heartbeat_at=now - timedelta(seconds=beat_age_s),
        )
        session.add(row)
        session.flush()
        return row.id


def claim_as(db: Database, host: str, pid: int, worker_row: int) -> tr.ClaimedRun:
    with db.write() as session:
        claimed = tr.claim_next(session, "cpu", f"{host}:{pid}:cpu-0", None, worker_row)
    assert claimed is not None
    return claimed


def membership(config: Config, db: Database, store: ArtifactStore) -> Membership:
    config.workers.stale_after_s = 30.0
    return Membership(config, db, store, PLANS)


def test_a_daemon_registers_beats_and_leaves(config, database, store) -> None:
    member = membership(config, database, store)
    me = member.join()
    with database.read() as session:
        row = session.get(WorkerProcess, me.id)
    assert (row.host, row.pid, row.state) == (workers.this_host(), os.getpid(), "running")
    assert row.roles == "inbox,stages,train" and row.version
    first = row.heartbeat_at
    member.beat()
    with database.read() as session:
        assert session.get(WorkerProcess, me.id).heartbeat_at >= first
    member.leave()
    with database.read() as session:
        row = session.get(WorkerProcess, me.id)
    assert row.state == "stopped" and row.stopped_at is not None


def test_a_stale_heartbeat_on_another_host_returns_its_runs(config, database, store) -> None:
    """Liveness is the heartbeat in the database: a pid on another host is never checked."""
    add_videos(database, 2)
    gone = add_worker(database, OTHER_HOST, 4242, beat_age_s=120)
    alive = add_worker(database, OTHER_HOST + "-b", 99999999, beat_age_s=1)
    lost_run = claim_as(database, OTHER_HOST, 4242, gone)
    live_run = claim_as(database, OTHER_HOST + "-b", 99999999, alive)
    # The lost run's own heartbeat is fresh: only its worker's stale beat condemns it.
    with database.write() as session:
        session.execute(update(StageRun).values(heartbeat_at=utcnow()))
    folder = store.video_dir("ab" * 32)
    folder.mkdir(parents=True)
    theirs = folder / f"probe.json.{workers.writer_tag(OTHER_HOST, 4242)}.partial"
    writing = folder / f"probe.json.{workers.writer_tag(OTHER_HOST + '-b', 99999999)}.partial"
    theirs.write_text("half")
    writing.write_text("in progress")

    report = membership(config, database, store).reap_stale()

    assert report == tr.ReapReport(requeued=1, failed=0)
    row = status_of(database, lost_run.video_id, lost_run.stage)
    assert (row.status, row.attempts, row.interruptions) == ("pending", 0, 1)
    assert row.error_kind == "reaped" and OTHER_HOST in row.last_error
    assert status_of(database, live_run.video_id, live_run.stage).status == "running"
    with database.read() as session:
        states = dict(session.execute(select(WorkerProcess.id, WorkerProcess.state)).all())
    assert states == {gone: "lost", alive: "running"}
    assert not theirs.exists() and writing.exists()


def test_a_restart_reaps_its_own_hosts_dead_processes_at_once(config, database, store) -> None:
    """No waiting for staleness on the own host: a dead pid there is certain."""
    add_videos(database, 3)
    here = workers.this_host()
    dead = dead_pid()
    crashed = add_worker(database, here, dead, beat_age_s=1)  # fresh beat, dead process
    sibling = add_worker(database, here, os.getppid(), beat_age_s=1)  # alive on this host
    remote = add_worker(database, OTHER_HOST, dead, beat_age_s=1)  # same pid elsewhere
    crashed_run = claim_as(database, here, dead, crashed)
    sibling_run = claim_as(database, here, os.getppid(), sibling)
    remote_run = claim_as(database, OTHER_HOST, dead, remote)
    folder = store.video_dir("cd" * 32)
    folder.mkdir(parents=True)
    ours = folder / f"audio.wav.{workers.writer_tag(here, dead)}.partial"
    unsigned = folder / "old.json.partial"
    remote_partial = folder / f"audio.wav.{workers.writer_tag(OTHER_HOST, dead)}.partial"
    for path in (ours, unsigned, remote_partial):
        path.write_text("half")

    member = membership(config, database, store)
    member.join()
    reaped = member.reap_own_host()

    assert (reaped.requeued, reaped.failed, reaped.partials) == (1, 0, 2)
    assert status_of(database, crashed_run.video_id, crashed_run.stage).status == "pending"
    assert status_of(database, sibling_run.video_id, sibling_run.stage).status == "running"
    assert status_of(database, remote_run.video_id, remote_run.stage).status == "running"
    assert remote_partial.exists() and not ours.exists() and not unsigned.exists()
    with database.read() as session:
        states = dict(session.execute(select(WorkerProcess.id, WorkerProcess.state)).all())
    assert states[crashed] == "lost" and states[sibling] == states[remote] == "running"
    assert states[member.me.id] == "running"


def test_a_process_presumed_dead_that_beats_again_is_revived(config, database, store) -> None:
    member = membership(config, database, store)
    me = member.join()
    with database.write() as session:
        session.execute(
            update(WorkerProcess).values(heartbeat_at=utcnow() - timedelta(seconds=600))
        )
    membership(config, database, store).reap_stale()
    with database.read() as session:
        assert session.get(WorkerProcess, me.id).state == "lost"
    member.beat()
    with database.read() as session:
        assert session.get(WorkerProcess, me.id).state == "running"


def test_partial_files_are_signed_by_their_writer(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", write_log=tmp_path / "writes.log")
    target = store.video_dir("ef" * 32) / "probe.json"
    with store.atomic_path(target) as partial:
        assert partial_tag(partial) == workers.writer_tag(workers.this_host(), os.getpid())
        partial.write_text("{}")
    assert target.read_text() == "{}"
    store.write_json(target, {"a": 1})
    lines = (tmp_path / "writes.log").read_text().splitlines()
    assert len(lines) == 2
    tag, path = lines[0].split("\t")[1:]
    assert tag == workers.writer_tag(workers.this_host(), os.getpid())
    assert path == f"artifacts/ef/{'ef' * 32}/probe.json"


def test_hosts_registering_at_once_make_one_video_per_content(database) -> None:
    """Four hosts register two contents at the same moment, each through its own pool:
    one video per content, the other registrations see a duplicate, no error."""
    from storage.videos import register_video

    barrier = threading.Barrier(4)
    results, errors = [], []

    def host(i: int) -> None:
        db = Database(database.url)
        try:
            barrier.wait()
            with db.write() as session:
                reg = register_video(
                    session,
                    sha256=f"{i % 2:x}" * 64,
                    name=f"copy{i}.mp4",
                    path=f"/nfs/inbox/copy{i}.mp4",
                    size_bytes=1,
                    plans=PLANS.values(),
                )
            results.append(reg)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=host, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(r.created for r in results) == [False, False, True, True]
    assert len({r.video_id for r in results}) == 2
    with database.read() as session:
        assert session.execute(select(func.count()).select_from(StageRun)).scalar_one() == 6


def test_the_inbox_lock_lets_one_holder_in_at_a_time(database, backend) -> None:
    if backend == "sqlite":
        with try_lock(database, "lprd-inbox:/srv/inbox") as first:
            with try_lock(database, "lprd-inbox:/srv/inbox") as second:
                assert first and second  # one daemon per SQLite file: nothing to exclude
        return
    other = Database(database.url)  # another host's connection pool
    try:
        with try_lock(database, "lprd-inbox:/srv/inbox") as first:
            assert first
            with try_lock(other, "lprd-inbox:/srv/inbox") as second:
                assert not second
            with try_lock(other, "lprd-inbox:/srv/other") as unrelated:
                assert unrelated
        with try_lock(other, "lprd-inbox:/srv/inbox") as after:
            assert after  # released with the block
    finally:
        other.dispose()


def test_a_shared_inbox_is_skipped_while_another_host_handles_it(
    config, database, store, backend
) -> None:
    from daemon.pipeline import Pipeline
    from daemon.runtime.inbox import Inbox
    from tests.support.media_factory import make_video

    if backend == "sqlite":
        pytest.skip("the inbox lock excludes hosts only on PostgreSQL")
    config.inbox.shared = True
    config.inbox.stable_seconds = 0
    config.inbox_dir.mkdir(parents=True, exist_ok=True)
    make_video(config.inbox_dir / "clip.mp4", seconds=0.5)
    inbox = Inbox(config, database, store, Pipeline.default(["probe"]))
    other = Database(database.url)
    try:
        with try_lock(other, f"lprd-inbox:{config.inbox_dir}") as held:
            assert held
            assert inbox.scan() == 0
        assert inbox.scan() == 1
    finally:
        other.dispose()
    with database.read() as session:
        assert session.execute(select(StageRun.stage)).scalars().all() == ["probe"]


def test_training_starts_only_on_a_host_with_the_train_role(config, database) -> None:
    from daemon.learn.jobs.supervisor import start_training
    from daemon.runtime.scheduler import build_scheduler

    config.roles = ["inbox", "stages"]
    run, message = start_training(config, database)
    assert run is None and "'train' role" in message
    with database.read() as session:
        assert session.execute(select(TrainingRun)).first() is None
    jobs = {job.id for job in build_scheduler(config, database, lambda: 0, lambda: 0).get_jobs()}
    assert jobs == {"rescan", "reap"}
    config.roles = ["train"]
    jobs = {job.id for job in build_scheduler(config, database, lambda: 0, lambda: 0).get_jobs()}
    assert jobs == {"reap", "retrain"}


def test_one_training_run_in_the_whole_cluster(database) -> None:
    from sqlalchemy.exc import IntegrityError

    with database.write() as session:
        session.add(TrainingRun(status="running", trigger="manual", host="a", started_at=utcnow()))
    with pytest.raises(IntegrityError):
        with database.write() as session:
            session.add(
                TrainingRun(status="running", trigger="manual", host="b", started_at=utcnow())
            )
    with database.write() as session:  # finished runs do not count
        session.add(TrainingRun(status="done", trigger="manual", host="b", started_at=utcnow()))
        session.add(TrainingRun(status="failed", trigger="manual", host="c", started_at=utcnow()))


def test_a_training_on_a_dead_host_is_failed_from_another(database) -> None:
    from daemon.learn.jobs.supervisor import reap_dead_training

    def training_on(host: str) -> None:
        with database.write() as session:
            session.add(
                TrainingRun(
                    status="running", trigger="manual", pid=4242, host=host, started_at=utcnow()
                )
            )

    add_worker(database, OTHER_HOST, 4242, beat_age_s=1)
    training_on(OTHER_HOST)
    # Pid 4242 means nothing here: the host beats, so its training is left alone.
    assert reap_dead_training(database, stale_after_s=30) == 0
    with database.write() as session:
        session.execute(
            update(WorkerProcess).values(heartbeat_at=utcnow() - timedelta(seconds=120))
        )
    assert reap_dead_training(database, stale_after_s=30) == 1
    training_on("laptop")  # a host that never ran a daemon: nothing is known about it
    assert reap_dead_training(database, stale_after_s=30) == 0
    with database.read() as session:
        runs = {r.host: r for r in session.scalars(select(TrainingRun))}
    assert runs[OTHER_HOST].status == "failed" and OTHER_HOST in runs[OTHER_HOST].error
    assert runs["laptop"].status == "running"


def test_status_shows_each_hosts_workers_and_their_heartbeat(config, database, store) -> None:
    add_videos(database, 1)
    member = membership(config, database, store)
    member.join()
    busy = add_worker(database, OTHER_HOST, 77, beat_age_s=4)
    claim_as(database, OTHER_HOST, 77, busy)
    add_worker(database, "cpu-node-2", 78, beat_age_s=600)
    old = add_worker(database, "cpu-node-3", 79, beat_age_s=900)
    with database.write() as session:
        workers.mark_stopped(session, old)

    report = gather_status(database, ["a", "b", "c"], config=config)

    rows = {w["host"]: w for w in report["workers"]}
    assert set(rows) == {workers.this_host(), OTHER_HOST, "cpu-node-2", "cpu-node-3"}
    assert rows[OTHER_HOST]["state"] == "running" and rows[OTHER_HOST]["running_stages"] == 1
    assert 3 <= rows[OTHER_HOST]["heartbeat_age_s"] < 60
    assert rows["cpu-node-2"]["state"] == "stale"
    assert rows["cpu-node-3"]["state"] == "stopped"
    json.dumps(report)  # what `lprd status --json` prints
    from rich.console import Console

    console = Console(width=160, record=True)
    console.print(render_status(report))
    text = console.export_text()
    assert "workers" in text and OTHER_HOST in text and "stale" in text and "s ago" in text


def test_run_refuses_a_database_it_could_only_reach_over_the_network(tmp_path: Path) -> None:
    """`lprd run` keeps its network lock: a TCP database URL is refused at start, saying
    how to connect through a Unix socket instead."""
    from daemon.netlock import database_host
    from tests.support.daemon_proc import daemon_env

    assert database_host("postgresql+psycopg://lprd@/lprd?host=/run/postgresql") is None
    assert database_host("postgresql://lprd:pw@db.example:5432/lprd") == "db.example"
    # A loopback address is TCP too: the lock refuses it (a local pgbouncer's socket is fine).
    assert database_host("postgresql://lprd@/lprd?host=127.0.0.1&port=6432") == "127.0.0.1"
    env = daemon_env(tmp_path / "home", LPRD_DATABASE__URL="postgresql://lprd:pw@db.example/lprd")
    proc = subprocess.run(
        [sys.executable, "-m", "daemon", "run"], env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "db.example" in proc.stderr and "Unix socket" in proc.stderr
    assert "lprd:pw" not in proc.stderr  # the password is never shown
