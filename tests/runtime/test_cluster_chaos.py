"""Three daemons ("hosts") on one PostgreSQL database, one store and one shared inbox, each
killed with SIGKILL at random moments and restarted: in the end every stage of every video
is done or skipped exactly once, and no stage ran twice (read from the artifact write log)."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import StageRun, Video, WorkerProcess
from tests.conftest import real_clips, requires_clips
from tests.support.daemon_proc import start_daemon, stop_process, wait_for
from tests.support.media_factory import make_video, tone

# Stages whose offline backends load fast (every restart loads them again); speech
# emotion has no offline backend and ends skipped, which counts as finished.
STAGES = ["probe", "extract_audio", "diarize", "speech_emotion", "analyze_face"]
HOSTS = 3
KILLS_EACH = 5
VIDEOS = 30
REAL = 3
STALE_S = 6  # heartbeats every second: a process silent this long is presumed dead
# Videos reach the inbox in portions, one more after each kill, so that work is left to
# interrupt however fast the machine is: with all 30 at once a fast machine finished
# them after six kills.
FIRST_PORTION = 10


def _videos(folder: Path) -> list[Path]:
    """30 videos: a few real clips, the rest short generated ones (each its own content)."""
    folder.mkdir(parents=True)
    paths = []
    for clip in real_clips()[:REAL]:
        paths.append(folder / clip.name)
        shutil.copy(clip, paths[-1])
    for i in range(VIDEOS - REAL):
        paths.append(folder / f"gen{i:02d}.mp4")
        make_video(paths[-1], seconds=1.0, audio=tone(1.0, freq=180.0 + 7 * i))
    return paths


def _feed(staged: list[Path], inbox: Path, count: int) -> None:
    """Move `count` staged videos into the inbox (a rename: never seen half-written)."""
    for _ in range(min(count, len(staged))):
        path = staged.pop(0)
        os.replace(path, inbox / path.name)


def _env(root: Path, url: str) -> dict[str, str]:
    return {
        "LPRD_DATABASE__URL": url,
        "LPRD_PATHS__STORE": str(root / "store"),
        "LPRD_PATHS__INBOX": str(root / "inbox"),
        "LPRD_PATHS__WRITE_LOG": str(root / "writes.log"),
        "LPRD_INBOX__SHARED": "true",
        "LPRD_INBOX__STABLE_SECONDS": "0",
        "LPRD_INBOX__RESCAN_INTERVAL_S": "2",
        "LPRD_STAGES": str(STAGES).replace("'", '"'),
        "LPRD_WORKERS__CPU": "1",
        "LPRD_WORKERS__STALE_AFTER_S": str(STALE_S),
        "LPRD_VISUAL__SAMPLE_FPS": "2",
    }


def _owns_a_running_stage(db: Database, pid: int) -> bool:
    owner = f"{socket.gethostname()}:{pid}:%"
    with db.read() as session:
        found = session.execute(
            select(StageRun.id)
            .where(StageRun.status == "running", StageRun.worker_id.like(owner))
            .limit(1)
        ).first()
    return found is not None


def _presumed_dead(db: Database, pid: int) -> bool:
    """True once another daemon has marked the process `pid` lost (its heartbeat stopped)."""
    with db.read() as session:
        state = session.execute(
            select(WorkerProcess.state)
            .where(WorkerProcess.pid == pid)
            .order_by(WorkerProcess.id.desc())
            .limit(1)
        ).scalar()
    return state == "lost"


def _beating(db: Database, pid: int) -> bool:
    """True once the daemon `pid` is past its start-up (its heartbeat thread has beaten)."""
    with db.read() as session:
        row = session.execute(
            select(WorkerProcess.started_at, WorkerProcess.heartbeat_at)
            .where(WorkerProcess.pid == pid, WorkerProcess.state == "running")
            .order_by(WorkerProcess.id.desc())
            .limit(1)
        ).first()
    return row is not None and row.heartbeat_at > row.started_at


def _stage_rows(db: Database) -> int:
    with db.read() as session:
        return session.execute(select(func.count()).select_from(StageRun)).scalar_one()


def _unfinished(db: Database) -> int:
    with db.read() as session:
        return session.execute(
            select(func.count())
            .select_from(StageRun)
            .where(StageRun.status.not_in(["done", "skipped"]))
        ).scalar_one()


def _writes(log: Path) -> dict[str, list[int]]:
    """Artifact path -> pids of the processes that completed a write of it, in order."""
    writers: dict[str, list[int]] = defaultdict(list)
    for line in log.read_text().splitlines():
        _, tag, path = line.split("\t")
        writers[path].append(int(tag.rpartition("~")[2]))
    return writers


@requires_clips
@pytest.mark.slow
def test_three_hosts_killed_at_random_finish_every_stage_once(tmp_path: Path, pg_url: str) -> None:
    staged = _videos(tmp_path / "staged")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _feed(staged, inbox, FIRST_PORTION)
    env = _env(tmp_path, pg_url)
    homes = [tmp_path / f"host{i}" for i in range(HOSTS)]
    logs = [tmp_path / f"host{i}.log" for i in range(HOSTS)]

    def start(i: int) -> subprocess.Popen:
        homes[i].mkdir(exist_ok=True)
        return start_daemon(homes[i], log=logs[i], **env)

    db = Database(pg_url)
    chance = random.Random(14)
    procs = [start(i) for i in range(HOSTS)]
    kills = [0] * HOSTS
    killed: set[int] = set()
    late_restarts = 0
    try:

        def registered(videos: int) -> bool:  # or a daemon ended: its log says why
            exited = any(p.poll() is not None for p in procs)
            return exited or _stage_rows(db) == videos * len(STAGES)

        assert wait_for(lambda: registered(FIRST_PORTION), 90), [
            p.read_text()[-2000:] for p in logs
        ]
        assert all(p.poll() is None for p in procs), [p.read_text()[-2000:] for p in logs]
        while min(kills) < KILLS_EACH:
            i = chance.choice([k for k in range(HOSTS) if kills[k] == min(kills)])
            proc = procs[i]
            if not wait_for(lambda: _owns_a_running_stage(db, proc.pid), 10, interval=0.05):  # noqa: B023
                _feed(staged, inbox, 1)  # the queue ran dry before this kill: more work
                wait_for(lambda: _owns_a_running_stage(db, proc.pid), 30, interval=0.05)  # noqa: B023
            late = sum(kills) % 4 == 1
            if late:  # no restart of this host may reap it: every daemon is past start-up
                wait_for(lambda: all(_beating(db, p.pid) for p in procs), 30)  # noqa: B023
            time.sleep(chance.uniform(0.0, 1.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            killed.add(proc.pid)
            kills[i] += 1
            if late:
                # Left dead past the stale interval: another host returns its stages.
                assert wait_for(lambda: _presumed_dead(db, proc.pid), 60), proc.pid  # noqa: B023
                late_restarts += 1
            procs[i] = start(i)
            _feed(staged, inbox, 1)
        _feed(staged, inbox, len(staged))

        def finished() -> bool:
            return _stage_rows(db) == VIDEOS * len(STAGES) and _unfinished(db) == 0

        assert wait_for(finished, 150, interval=0.5), [p.read_text()[-2000:] for p in logs]
    finally:
        for proc in procs:
            stop_process(proc)
    assert all(p.returncode == 0 for p in procs), [
        (p.returncode, log.read_text()[-1500:]) for p, log in zip(procs, logs, strict=True)
    ]

    with db.read() as session:
        videos = {v.id: v for v in session.scalars(select(Video))}
        runs = session.scalars(select(StageRun)).all()
    db.dispose()
    assert len(videos) == VIDEOS and len(runs) == VIDEOS * len(STAGES)
    assert {r.status for r in runs} <= {"done", "skipped"}
    real = {r for r in runs if not videos[r.video_id].name.startswith("gen")}
    # No offline backend: skipped; every other stage has a real clip's result.
    assert {r.stage for r in real if r.status == "skipped"} == {"speech_emotion"}
    assert list((tmp_path / "store").rglob("*.partial")) == []

    # No stage ran twice: each artifact was written by distinct processes, every one but
    # the last was killed before it could record its run, and the last is the recorded one.
    writers = _writes(tmp_path / "writes.log")
    for run in runs:
        sha = videos[run.video_id].sha256
        path = f"artifacts/{sha[:2]}/{sha}/{run.stage}.json"
        pids = writers[path]
        owner = int(run.worker_id.split(":")[1])
        assert pids and pids[-1] == owner, (path, pids, run.worker_id)
        assert len(set(pids)) == len(pids), (path, pids)
        assert set(pids[:-1]) <= killed, (path, pids, killed)

    assert len({r.worker_id.split(":")[1] for r in runs}) > HOSTS  # the work was shared

    text = "".join(p.read_text(errors="replace") for p in logs)
    requeued = sum(int(n) for n in re.findall(r"(\d+) interrupted runs requeued", text))
    assert requeued >= KILLS_EACH, requeued  # the kills landed on running stages
    assert late_restarts >= 3 and text.count("presumed dead") >= late_restarts
