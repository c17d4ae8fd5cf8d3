"""`kill -9` in the middle of processing, then a restart: every video done exactly once."""

from __future__ import annotations

import errno
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from daemon.pipeline import Pipeline
from daemon.runtime import inbox as inbox_module
from daemon.runtime.inbox import Inbox
from daemon.runtime.worker import Services, Worker
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import StageRun, Video
from tests.conftest import real_clips, requires_clips
from tests.support.daemon_proc import (
    daemon_env,
    daemon_log,
    home_database,
    inbox_states,
    new_home,
    start_daemon,
    stop_process,
    wait_for,
    without_file_read_override,
)
from tests.support.media_factory import make_video, tone


def _slow_stage_plugin(tmp_path: Path, finish_after_s: float = 1e9) -> Path:
    """A test-only stage `slow` (after probe) that runs until told to stop, or until
    `finish_after_s` have passed (then it succeeds and its artifact is written)."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "sitecustomize.py").write_text(
        "import time\n"
        "import daemon.stages as reg\n"
        "from daemon.stages.base import Stage, StageResult\n"
        "def run(ctx):\n"
        "    start = time.monotonic()\n"
        f"    while time.monotonic() - start < {finish_after_s}:\n"
        "        ctx.check_stop()\n"
        "        time.sleep(0.05)\n"
        "    return StageResult(data={'slept': True}, backend='test')\n"
        "import sys, types\n"
        "mod = types.ModuleType('slow_stage')\n"
        "mod.STAGE = Stage(name='slow', run=run, requires=('probe',))\n"
        "sys.modules['slow_stage'] = mod\n"
        "reg.STAGE_MODULES = (*reg.STAGE_MODULES, 'slow_stage')\n"
    )
    return plugin


def _with_path(plugin: Path) -> str:
    return f"{plugin}{':' + sys.path[0] if sys.path[0] else ''}"


def _count(db: Database, status: str) -> int:
    with db.read() as session:
        return session.execute(
            select(func.count()).select_from(StageRun).where(StageRun.status == status)
        ).scalar_one()


@requires_clips
@pytest.mark.slow
def test_kill_9_then_restart_finishes_every_video_once(tmp_path: Path) -> None:
    home = new_home(tmp_path)
    inbox = home / "inbox"
    clips = real_clips()
    for clip in clips:
        shutil.copy(clip, inbox / clip.name)
    db = Database.at(home / "lprd.db")
    proc = start_daemon(home, LPRD_INBOX__STABLE_SECONDS="0")
    try:
        total = 2 * len(clips)
        assert wait_for(lambda: 3 <= _count(db, "done") < total, 60, interval=0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _count(db, "done") < total, "the kill came too late to test anything"
    # What a crash mid-write leaves behind, besides rows still marked running.
    leftover = home / "store" / "artifacts" / "ab" / "leftover" / "audio.wav.partial"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half")

    restart = subprocess.run(
        [sys.executable, "-m", "daemon", "run", "--until-idle"],
        env=daemon_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert "partial files removed" in restart.stderr
    with db.read() as session:
        videos = session.execute(select(func.count()).select_from(Video)).scalar_one()
        runs = session.scalars(select(StageRun)).all()
    db.dispose()
    assert videos == len(clips)
    assert len(runs) == total
    assert {r.status for r in runs} == {"done"}
    assert all(r.attempts in (1, 2) for r in runs)
    assert list((home / "store").rglob("*.partial")) == []
    wavs = list((home / "store").rglob("audio.wav"))
    assert len(wavs) == len(clips)


@pytest.mark.both_backends
def test_sigterm_returns_the_running_stage_without_using_an_attempt(
    tmp_path: Path, backend_url: str | None
) -> None:
    """A stage that notices the stop returns to pending with its attempt given back."""
    home = new_home(tmp_path, backend_url)
    inbox = home / "inbox"
    make_video(inbox / "long.mp4", seconds=1.0, audio=tone(1.0))
    db = home_database(home)
    plugin = _slow_stage_plugin(tmp_path)
    proc = start_daemon(
        home,
        LPRD_STAGES='["probe", "slow"]',
        LPRD_INBOX__STABLE_SECONDS="0",
        PYTHONPATH=_with_path(plugin),
    )
    try:
        assert wait_for(lambda: _count(db, "running") == 1, 60)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with db.read() as session:
        slow = session.execute(select(StageRun).where(StageRun.stage == "slow")).scalar_one()
    db.dispose()
    assert (slow.status, slow.attempts, slow.worker_id) == ("pending", 0, None)


@pytest.mark.both_backends
def test_kill_9_during_a_stage_is_an_interruption_not_an_attempt(
    tmp_path: Path, backend_url: str | None
) -> None:
    """Three outside kills during one stage leave it queued, its attempts untouched."""
    home = new_home(tmp_path, backend_url)
    make_video(home / "inbox" / "long.mp4", seconds=1.0, audio=tone(1.0))
    db = home_database(home)
    plugin = _slow_stage_plugin(tmp_path)
    env = {
        "LPRD_STAGES": '["probe", "slow"]',
        "LPRD_INBOX__STABLE_SECONDS": "0",
        "PYTHONPATH": _with_path(plugin),
    }

    def started(times: int) -> bool:
        with db.read() as session:
            running = session.scalars(
                select(StageRun.stage).where(StageRun.status == "running")
            ).all()
        return daemon_log(home).count("lprd running") == times and running == ["slow"]

    for kill in range(3):
        proc = start_daemon(home, **env)
        try:
            assert wait_for(lambda: started(kill + 1), 60), daemon_log(home)  # noqa: B023
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        # What the next start-up sees: a run left `running` by a dead process.
    proc = start_daemon(home, **env)
    try:
        assert wait_for(lambda: started(4), 60), daemon_log(home)
        with db.read() as session:
            slow = session.execute(select(StageRun).where(StageRun.stage == "slow")).scalar_one()
        assert slow.status == "running" and slow.attempts == 1, (slow.status, slow.last_error)
        assert slow.interruptions == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        db.dispose()


# The analysis stages whose offline backends load fast (each restart loads them again).
CHAOS_STAGES = '["probe", "extract_audio", "diarize", "speech_emotion", "analyze_face"]'


def _running_in(db: Database, pid: int) -> bool:
    """True when the daemon process `pid` is running a stage now."""
    owner = f"{socket.gethostname()}:{pid}:%"
    with db.read() as session:
        return (
            session.execute(
                select(StageRun.id)
                .where(StageRun.status == "running", StageRun.worker_id.like(owner))
                .limit(1)
            ).first()
            is not None
        )


def _finished(db: Database) -> int:
    return _count(db, "done") + _count(db, "skipped")


@requires_clips
@pytest.mark.slow
def test_chaos_kill_9_twenty_times_over_ten_real_clips(tmp_path: Path) -> None:
    """Kills at random moments mid-stage; in the end every stage is done or skipped."""
    home = new_home(tmp_path)
    clips = real_clips()[:10]
    for clip in clips:
        shutil.copy(clip, home / "inbox" / clip.name)
    db = Database.at(home / "lprd.db")
    env = {"LPRD_STAGES": CHAOS_STAGES, "LPRD_INBOX__STABLE_SECONDS": "0"}
    chance = random.Random(20)
    kills = 0
    while kills < 20:
        before = _finished(db)
        proc = start_daemon(home, **env)
        try:
            # Most kills strike while this process runs its first stages (often loading a
            # model); every fourth waits for a stage to finish first, so long stages
            # finish now and then too.
            if kills % 4 == 3:
                ready = lambda: _finished(db) > before  # noqa: B023, E731
            else:
                ready = lambda: _running_in(db, proc.pid)  # noqa: B023, E731
            if not wait_for(ready, 120, interval=0.05):
                break  # nothing left to do
            time.sleep(chance.uniform(0.0, 0.8))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
        finally:
            if proc.poll() is None:
                proc.kill()
    assert kills >= 20, f"the work ended after {kills} kills: too little to test"
    final = subprocess.run(
        [sys.executable, "-m", "daemon", "run", "--until-idle"],
        env=daemon_env(home, **env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert final.returncode == 0, final.stderr[-3000:]
    with db.read() as session:
        runs = session.scalars(select(StageRun)).all()
        videos = session.execute(select(func.count()).select_from(Video)).scalar_one()
    db.dispose()
    assert videos == len(clips) and len(runs) == 5 * len(clips)
    failed = [(r.video_id, r.stage, r.last_error) for r in runs if r.status == "failed"]
    assert failed == []
    assert {r.status for r in runs} <= {"done", "skipped"}
    logs = daemon_log(home) + final.stderr
    requeued = [int(n) for n in re.findall(r"(\d+) interrupted runs requeued", logs)]
    assert sum(requeued) >= 20, requeued  # the kills really landed on running stages
    assert list((home / "store").rglob("*.partial")) == []


def test_a_failed_artifact_write_ends_in_a_transition_not_a_stuck_run(tmp_path: Path) -> None:
    """The store refuses the write (read-only folder): the stage fails visibly, at once."""
    home = new_home(tmp_path)
    make_video(home / "inbox" / "clip.mp4", seconds=1.0, audio=tone(1.0))
    artifacts = home / "store" / "artifacts"
    artifacts.mkdir(parents=True)
    artifacts.chmod(0o500)
    db = home_database(home)
    proc = start_daemon(
        home,
        LPRD_STAGES='["probe"]',
        LPRD_INBOX__STABLE_SECONDS="0",
        prefix=without_file_read_override(),
    )
    try:
        assert wait_for(lambda: _count(db, "failed") == 1, 60), daemon_log(home)
        with db.read() as session:
            probe = session.execute(select(StageRun)).scalar_one()
        assert probe.error_kind == "permanent" and "cannot store the result" in probe.last_error
        assert proc.poll() is None
    finally:
        stop_process(proc)
        db.dispose()


def test_a_full_disk_waits_without_using_an_attempt(make_ctx, tmp_path: Path) -> None:
    """ENOSPC while storing is the disk's fault: deferred with a delay, never failed."""
    from daemon import runner
    from daemon.pipeline import Pipeline

    ctx = make_ctx(make_video(tmp_path / "clip.mp4", seconds=1.0))

    def disk_full(path, data):  # stands in for a full disk
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    ctx.store.write_json = disk_full
    outcome = runner.execute(Pipeline.default(["probe"])["probe"], ctx)
    assert outcome.kind == "deferred" and outcome.retry_after_s >= 5
    assert "No space left on device" in outcome.message and "no attempt used" in outcome.message


@pytest.mark.both_backends
def test_forget_during_a_running_stage_leaves_nothing_and_is_remembered(
    tmp_path: Path, backend_url: str | None
) -> None:
    home = new_home(tmp_path, backend_url)
    clip = make_video(home / "inbox" / "personal.mp4", seconds=1.0, audio=tone(1.0))
    db = home_database(home)
    plugin = _slow_stage_plugin(tmp_path, finish_after_s=3.0)
    proc = start_daemon(
        home,
        LPRD_STAGES='["probe", "slow"]',
        LPRD_INBOX__STABLE_SECONDS="0",
        LPRD_INBOX__RESCAN_INTERVAL_S="1",
        PYTHONPATH=_with_path(plugin),
    )
    lprd = [sys.executable, "-m", "daemon", "--home", str(home)]
    try:
        assert wait_for(lambda: _count(db, "running") == 1 and _count(db, "done") == 1, 60)
        with db.read() as session:
            sha = session.execute(select(Video.sha256)).scalar_one()
        forget = subprocess.run(
            [*lprd, "forget", "personal.mp4"], env=daemon_env(home), capture_output=True, text=True
        )
        assert forget.returncode == 0, forget.stderr
        time.sleep(6)  # the stage finishes meanwhile; two rescans pass
        assert list((home / "store" / "artifacts").rglob("*.json")) == []
        assert not (home / "store" / "artifacts" / sha[:2] / sha).exists()
        with db.read() as session:
            assert session.execute(select(func.count()).select_from(Video)).scalar_one() == 0
        states = inbox_states(db)
        assert states["personal.mp4"][0] == "rejected" and "forgotten" in states["personal.mp4"][1]
        # Added again on purpose: a new video, under an id never used before.
        added = subprocess.run(
            [*lprd, "add", str(clip)], env=daemon_env(home), capture_output=True, text=True
        )
        assert added.returncode == 0 and "registered" in added.stdout, added.stdout + added.stderr
        with db.read() as session:
            assert session.execute(select(Video.id)).scalar_one() == 2
    finally:
        stop_process(proc)
        db.dispose()


def test_a_killed_training_child_is_reaped_at_once_with_its_candidate(tmp_path: Path) -> None:
    from daemon.learn import registry
    from storage.db import utcnow
    from storage.models import ModelVersion, TrainingRun
    from tests.learn.test_learn_registry import candidate

    home = new_home(tmp_path)
    db = Database.at(home / "lprd.db")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs: the child was killed
    with db.write() as session:
        session.add(
            TrainingRun(status="running", trigger="manual", pid=gone.pid, started_at=utcnow())
        )
    candidate(db, "half-trained", 0.9)
    proc = start_daemon(home)
    try:

        def reaped() -> bool:
            with db.read() as session:
                run = session.execute(select(TrainingRun)).scalar_one()
            return run.status == "failed"

        assert wait_for(reaped, 15), daemon_log(home)  # a heartbeat, not the hourly check
        with db.read() as session:
            run = session.execute(select(TrainingRun)).scalar_one()
            left = session.execute(select(func.count()).select_from(ModelVersion)).scalar_one()
        assert "ended without reporting" in run.error and left == 0
        assert registry.all_versions(db) == []
    finally:
        stop_process(proc)
        db.dispose()


@pytest.mark.both_backends
def test_a_stage_that_ignores_the_stop_is_released_and_the_daemon_exits_cleanly(
    tmp_path: Path,
    backend_url: str | None,
) -> None:
    home = new_home(tmp_path, backend_url)
    make_video(home / "inbox" / "clip.mp4", seconds=1.0, audio=tone(1.0))
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "sitecustomize.py").write_text(
        "import time\n"
        "import daemon.stages as reg\n"
        "from daemon.stages.base import Stage\n"
        "def run(ctx):\n"
        "    time.sleep(3600)  # deaf to the stop, like a long native call\n"
        "import sys, types\n"
        "mod = types.ModuleType('deaf_stage')\n"
        "mod.STAGE = Stage(name='deaf', run=run, requires=('probe',))\n"
        "sys.modules['deaf_stage'] = mod\n"
        "reg.STAGE_MODULES = (*reg.STAGE_MODULES, 'deaf_stage')\n"
    )
    db = home_database(home)
    proc = start_daemon(
        home,
        LPRD_STAGES='["probe", "deaf"]',
        LPRD_INBOX__STABLE_SECONDS="0",
        LPRD_WORKERS__STOP_TIMEOUT_S="1",
        PYTHONPATH=_with_path(plugin),
    )
    try:
        assert wait_for(lambda: _count(db, "running") == 1 and _count(db, "done") == 1, 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, daemon_log(home)
    finally:
        if proc.poll() is None:
            proc.kill()
    with db.read() as session:
        deaf = session.execute(select(StageRun).where(StageRun.stage == "deaf")).scalar_one()
    db.dispose()
    assert (deaf.status, deaf.attempts) == ("pending", 0)
    assert "returned to pending" in daemon_log(home)


def test_start_up_removes_a_dead_writers_partial_report(config, database) -> None:
    """A kill while a report was being written leaves its partial in HOME/reports, outside
    the store: start-up removes it with the store's, and leaves a live writer's alone."""
    from daemon.pipeline import Pipeline
    from daemon.report import default_report_path
    from daemon.runtime.service import Daemon
    from daemon.stages.base import Stage, StageResult
    from storage.workers import this_host, writer_tag

    dead = subprocess.Popen(["true"])
    dead.wait()
    page = default_report_path(config.home_dir, "ab" * 32)
    page.parent.mkdir(parents=True)
    left = page.with_name(f"{page.name}.{writer_tag(this_host(), dead.pid)}.partial")
    left.write_bytes(b"<html>half")
    alive = page.with_name(f"{page.name}.{writer_tag(this_host(), 1)}.partial")
    alive.write_bytes(b"<html>being written")
    pipeline = Pipeline([Stage("noop", lambda _ctx: StageResult(data={}, backend="test"))])
    assert Daemon(config, until_idle=True, pipeline=pipeline).run() == 0
    assert not left.exists(), "a dead writer's partial report was left behind"
    assert alive.exists(), "a live process's write was removed"


def _kill_forget_plugin(tmp_path: Path, at_call: int) -> Path:
    """sitecustomize that SIGKILLs the process at its `at_call`-th file deletion of a
    forget (1: right after the tombstone and the rows, before any file went)."""
    plugin = tmp_path / "killplugin"
    plugin.mkdir()
    (plugin / "sitecustomize.py").write_text(
        "import os, signal\n"
        "import daemon.runtime.forgetting as forgetting\n"
        "real, calls = forgetting.erase_path, [0]\n"
        "def erase_path(path):\n"
        "    calls[0] += 1\n"
        f"    if calls[0] == {at_call}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    real(path)\n"
        "forgetting.erase_path = erase_path\n"
    )
    return plugin


def _traces_of(home: Path, sha: str, name: str) -> list[str]:
    """Every file or folder under HOME naming the video's hash, or holding its hash or
    name (the database, which keeps the forgotten hash on purpose, excepted)."""
    found = []
    for path in home.rglob("*"):
        relative = str(path.relative_to(home))
        if sha in relative:
            found.append(relative)
        elif path.is_file() and not path.name.startswith("lprd.db"):
            data = path.read_bytes()
            if sha.encode() in data or name.encode() in data:
                found.append(relative)
    return found


@pytest.mark.parametrize(
    ("kill_at", "finish_by"), [(1, "forget-again"), (2, "resume"), (1, "daemon-start")]
)
def test_a_forget_killed_midway_is_finished_by_forget_again_or_a_daemon_start(
    tmp_path: Path, capsys, kill_at: int, finish_by: str
) -> None:
    """`kill -9` of `lprd forget` after its rows went (nothing deleted yet, or the
    artifacts but not the report): the same forget again, `--resume` or the next daemon
    start deletes every file left, audio.wav and report included."""
    from daemon.cli import main
    from storage.models import ForgottenVideo

    home = tmp_path / "home"
    home.mkdir()
    (home / "lprd.toml").write_text('stages = ["probe", "extract_audio"]\n')
    (tmp_path / "src").mkdir()
    clip = make_video(tmp_path / "src" / "talk.mp4", seconds=1.0, audio=tone(1.0))
    assert main(["--home", str(home), "add", str(clip)]) == 0
    assert main(["--home", str(home), "run", "--until-idle"]) == 0
    assert main(["--home", str(home), "report", "talk.mp4"]) == 0
    db = Database.at(home / "lprd.db")
    with db.read() as session:
        sha = session.execute(select(Video.sha256)).scalar_one()
    assert len(_traces_of(home, sha, clip.name)) >= 3  # artifacts, audio.wav, the report
    env = daemon_env(home, PYTHONPATH=_with_path(_kill_forget_plugin(tmp_path, kill_at)))
    lprd = [sys.executable, "-m", "daemon", "--home", str(home)]
    killed = subprocess.run([*lprd, "forget", "talk.mp4"], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Video)).scalar_one() == 0
        assert session.get(ForgottenVideo, sha).state == "erasing"
    assert (home / "reports" / f"{sha}.html").exists(), "the kill came before the report went"
    capsys.readouterr()
    finish = {
        "forget-again": ["forget", "talk.mp4"],
        "resume": ["forget", "--resume"],
        "daemon-start": ["run", "--until-idle"],
    }[finish_by]
    assert main(["--home", str(home), *finish]) == 0
    if finish_by != "daemon-start":
        assert "finished forgetting video #1 talk.mp4" in capsys.readouterr().out
    assert _traces_of(home, sha, clip.name) == []
    with db.read() as session:
        record = session.get(ForgottenVideo, sha)
        assert (record.state, record.paths) == ("done", None)
        assert session.execute(select(func.count()).select_from(StageRun)).scalar_one() == 0
    db.dispose()
    assert clip.exists(), "the user's original outside the store is never touched"


def test_a_report_written_while_forget_runs_is_not_left_behind(
    make_ctx, config, database, tmp_path: Path, monkeypatch
) -> None:
    """`lprd forget` runs while the report stage renders its page: the page is written
    and renamed after forget deleted the files, so the store sees the tombstone after the
    rename and deletes it; the run ends failed, and nothing of the video is left."""
    import dataclasses

    import daemon.report.make as make
    from daemon import runner
    from daemon.pipeline import Pipeline
    from daemon.report import default_report_path
    from daemon.runtime import forgetting

    clip = make_video(tmp_path / "clip.mp4", seconds=1.0)
    ctx = make_ctx(clip)
    ctx = dataclasses.replace(ctx, store=forgetting.guarded_store(config, database))
    render = make.report_html

    def render_while_forgotten(db, store, video, order) -> str:
        html = render(db, store, video, order)
        forgetting.forget(database, config, ctx.store, video, keep_original=False)
        return html

    monkeypatch.setattr(make, "report_html", render_while_forgotten)
    outcome = runner.execute(Pipeline.default()["report"], ctx)
    assert outcome.kind == "permanent" and "forgotten" in outcome.message
    assert not default_report_path(config.home_dir, ctx.video.sha256).exists()
    assert _traces_of(config.home_dir, ctx.video.sha256, clip.name) == []


class _Killed(BaseException):
    """A kill -9 at that line: nothing in lprd catches it."""


@pytest.mark.parametrize("first", ["inbox", "worker"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_around_moving_an_original_is_finished_at_restart(
    config, database, model_cache, monkeypatch, when, first
) -> None:
    """`originals = "move"`, killed just before or just after the move, before the
    database knows: the restart completes the move's bookkeeping, nothing fails as gone."""
    config.inbox.originals, config.inbox.stable_seconds = "move", 0
    config.inbox_dir.mkdir(parents=True)
    clip = make_video(config.inbox_dir / "clip.mp4", seconds=1.0)
    pipeline = Pipeline.default(["probe"])
    store = ArtifactStore(config.store_dir)
    move = inbox_module._move_file

    def killed_around_the_move(*args) -> None:
        if when == "after":
            move(*args)
        raise _Killed(f"killed {when} the move")

    monkeypatch.setattr(inbox_module, "_move_file", killed_around_the_move)
    with pytest.raises(_Killed):
        Inbox(config, database, store, pipeline).scan()
    monkeypatch.setattr(inbox_module, "_move_file", move)
    assert clip.exists() == (when == "before")
    # The restart: the inbox rescans first, or a worker (of another host) claims first.
    svc = Services(config, database, store, model_cache, pipeline, {}, threading.Event())
    worker, inbox = Worker(svc, "cpu", 0), Inbox(config, database, store, pipeline)
    for step in ("inbox", "worker") if first == "inbox" else ("worker", "inbox"):
        if step == "inbox":
            inbox.scan()
            inbox.settle()
        while step == "worker" and worker.work_once():
            pass
    with database.read() as session:
        video = session.scalars(select(Video)).one()
        probe = session.scalars(select(StageRun).where(StageRun.stage == "probe")).one()
    assert (probe.status, probe.last_error) == ("done", None)
    moved = store.originals_dir() / f"{video.sha256}.mp4"
    assert video.path == str(moved) and moved.is_file() and not clip.exists()
    state, reason = inbox_states(database)["clip.mp4"]
    assert state == "registered" and f"video {video.id}" in reason, reason
