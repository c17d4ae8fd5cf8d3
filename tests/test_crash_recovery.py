"""`kill -9` in the middle of processing, then a restart: every video done exactly once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import StageRun, Video
from tests.conftest import real_clips, requires_clips
from tests.daemon_proc import daemon_env, new_home, start_daemon, wait_for
from tests.media_factory import make_video, tone


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


def test_sigterm_returns_the_running_stage_without_using_an_attempt(tmp_path: Path) -> None:
    """A stage that notices the stop returns to pending with its attempt given back."""
    home = new_home(tmp_path)
    inbox = home / "inbox"
    make_video(inbox / "long.mp4", seconds=1.0, audio=tone(1.0))
    db = Database.at(home / "lprd.db")
    # A test-only stage that runs until told to stop.
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "sitecustomize.py").write_text(
        "import time\n"
        "import daemon.stages as reg\n"
        "from daemon.stages.base import Stage\n"
        "def run(ctx):\n"
        "    while True:\n"
        "        ctx.check_stop()\n"
        "        time.sleep(0.05)\n"
        "import sys, types\n"
        "mod = types.ModuleType('slow_stage')\n"
        "mod.STAGE = Stage(name='slow', run=run, requires=('probe',))\n"
        "sys.modules['slow_stage'] = mod\n"
        "reg.STAGE_MODULES = (*reg.STAGE_MODULES, 'slow_stage')\n"
    )
    proc = start_daemon(
        home,
        LPRD_STAGES='["probe", "slow"]',
        LPRD_INBOX__STABLE_SECONDS="0",
        PYTHONPATH=f"{plugin}{':' + sys.path[0] if sys.path[0] else ''}",
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
