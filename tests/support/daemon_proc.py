"""Run `lprd run` as a real subprocess and poll its database, for daemon-level tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select

from daemon.config import load_config
from storage.db import Database, upgrade
from storage.models import InboxFile, StageRun, Video

CORE_STAGES = '["probe", "extract_audio"]'


def new_home(tmp_path: Path, database_url: str | None = None) -> Path:
    """A daemon home with an inbox and a database built by the migrations: `lprd.db` in
    the home, or the (already migrated) database at `database_url`, named in its config."""
    home = tmp_path / "home"
    (home / "inbox").mkdir(parents=True)
    if database_url is None:
        upgrade(home / "lprd.db")
    else:
        (home / "lprd.toml").write_text(f'[database]\nurl = "{database_url}"\n')
    return home


def home_database(home: Path) -> Database:
    """The database a daemon on `home` uses (its config's `database.url`)."""
    return Database(load_config(home=home, env={}).database_url)


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


def start_daemon(
    home: Path,
    *args: str,
    log: Path | None = None,
    prefix: Sequence[str] = (),
    **env: str,
) -> subprocess.Popen:
    """Start `python -m daemon run` in the background (under `prefix`, e.g. a tracer)."""
    out = open(log or home / "daemon.log", "ab")  # owned by the process
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "daemon", "run", *args],
        env=daemon_env(home, **env),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process a test started (SIGTERM, then SIGKILL if it does not end)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


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


def without_file_read_override() -> list[str]:
    """A command prefix under which even root obeys file modes (so 0000 means unreadable).

    Empty when not root; raises when root and `setpriv` is missing.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise FileNotFoundError("setpriv (util-linux) is needed to drop root's file overrides")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def daemon_log(home: Path) -> str:
    """What the test daemon wrote so far."""
    path = home / "daemon.log"
    return path.read_text(errors="replace") if path.exists() else ""


NET_AUDIT_HOOK = """\
import os, socket, sys

def _audit(event, args):
    if event == "socket.connect":
        family = getattr(args[0], "family", None)
        if family == socket.AF_UNIX:
            return
        what = f"connect {family!r} {args[1]!r}"
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        what = f"{event} {args[0]!r}"
    elif event == "socket.sendto":
        if getattr(args[0], "family", None) == socket.AF_UNIX:
            return
        what = f"sendto {args[1]!r}"
    else:
        return
    with open(os.environ["NETWORK_AUDIT_LOG"], "a") as fh:
        fh.write(f"{os.getpid()} {what}\\n")
    raise OSError(f"network blocked by the test: {what}")

sys.addaudithook(_audit)
"""


def network_audit(folder: Path) -> tuple[list[str], dict[str, str], Path]:
    """(command prefix, environment, log) that record every network attempt of a process.

    Python-level attempts (connect, name lookups, sendto; AF_UNIX excepted) go through an
    audit hook that logs and refuses them; native ones are caught by `strace` when it can
    trace here. The log holds one line per attempt; lines of `strace` output are prefixed
    with the traced pid.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(NET_AUDIT_HOOK)
    log = folder / "network.log"
    log.write_text("")
    env = {
        "PYTHONPATH": os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "NETWORK_AUDIT_LOG": str(log),
    }
    prefix: list[str] = []
    strace = shutil.which("strace")
    if (
        strace
        and subprocess.run([strace, "-f", "-o", os.devnull, "true"], check=False).returncode == 0
    ):
        prefix = [strace, "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect,sendto,sendmsg"]
        prefix += ["-o", str(folder / "strace.log")]
    return prefix, env, log


def network_attempts(folder: Path) -> list[str]:
    """Every recorded attempt to reach anything but a local (AF_UNIX) socket."""
    attempts = (folder / "network.log").read_text().splitlines()
    traced = folder / "strace.log"
    if traced.exists():
        for line in traced.read_text().splitlines():
            if "sa_family=" in line and "sa_family=AF_UNIX" not in line:
                attempts.append(line)
    return attempts
