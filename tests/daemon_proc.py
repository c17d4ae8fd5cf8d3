"""Run `lprd run` as a real subprocess and poll its database, for daemon-level tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from storage.db import Database, upgrade
from storage.models import InboxFile, StageRun, Video

CORE_STAGES = '["probe", "extract_audio"]'


def new_home(tmp_path: Path) -> Path:
    """A daemon home with an inbox and a database built by the migrations."""
    home = tmp_path / "home"
    (home / "inbox").mkdir(parents=True)
    upgrade(home / "lprd.db")
    return home


def daemon_env(home: Path, **overrides: str) -> dict[str, str]:
    """Environment for a test daemon: fast polling, only the core stages by default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LPRD_")}
    env.update(
        {
            "LPRD_HOME": str(home),
            "LPRD_STAGES": CORE_STAGES,
            "LPRD_INBOX__STABLE_SECONDS": "1",
            "LPRD_INBOX__RESCAN_INTERVAL_S": "2",
            "LPRD_WORKERS__POLL_INTERVAL_S": "0.2",
            "LPRD_WORKERS__HEARTBEAT_S": "1",
            "LPRD_WORKERS__STOP_TIMEOUT_S": "10",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


def start_daemon(home: Path, *args: str, log: Path | None = None, **env: str) -> subprocess.Popen:
    """Start `python -m daemon run` in the background."""
    out = open(log or home / "daemon.log", "ab")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(
        [sys.executable, "-m", "daemon", "run", *args],
        env=daemon_env(home, **env),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> bool:
    """Poll until `predicate()` is true; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def inbox_states(db: Database) -> dict[str, tuple[str, str | None]]:
    """file name -> (state, reason) for every inbox file seen."""
    with db.read() as session:
        rows = session.execute(select(InboxFile.name, InboxFile.state, InboxFile.reason)).all()
    return {name: (state, reason) for name, state, reason in rows}


def stage_states(db: Database) -> dict[tuple[str, str], StageRun]:
    """(video name, stage) -> StageRun."""
    with db.read() as session:
        rows = session.execute(
            select(Video.name, StageRun).join(StageRun, StageRun.video_id == Video.id)
        ).all()
    return {(name, run.stage): run for name, run in rows}
