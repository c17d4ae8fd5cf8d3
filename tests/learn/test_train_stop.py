"""Stopping a foreground `lprd train`: SIGINT or SIGTERM ends the training job and its head
process, the run is recorded as stopped, and `lprd train` exits 128 + the signal."""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daemon.cli import main
from tests.conftest import FI_DIR, REPO

PICKLES = [FI_DIR / "annotation_training.pkl", FI_DIR / "transcription_training.pkl"]
TRAIN_ENV = {
    "LPRD_TRAIN__HEADS": '["regression"]',
    "LPRD_TRAIN__PROFILES": '["transcript_only"]',
    "LPRD_TRAIN__MAX_TRAIN_ROWS": "40",
    "LPRD_TRAIN__MIN_TRAIN_ROWS": "8",
    "LPRD_TRAIN__MAX_STEPS": "5000",  # far more than it gets to run
    "LPRD_TRAIN__EPOCHS": "100",
    "LPRD_TRAIN__EVAL_EVERY": "1000",
    "LPRD_TRAIN__BATCH_SIZE": "2",
    "LPRD_TRAIN__MAX_LENGTH": "128",
    "LPRD_TRAIN__EVAL_LIMIT": "4",
    "LPRD_TRAIN__THREADS": "1",
    "LPRD_DEVICE": "cpu",
}


def _run(db: Path) -> tuple[str, dict | None] | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("select status, progress from training_runs order by id desc").fetchone()
    if row is None:
        return None
    return row[0], json.loads(row[1]) if row[1] else None


def _training_processes(config_copy_dir: Path) -> list[int]:
    """Training job and head processes reading a config in this home's logs folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        jobs = ("daemon.learn.jobs.train_job", "daemon.learn.jobs.head_job")
        if any(j in cmd for j in jobs) and str(config_copy_dir) in cmd:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _start_training(tmp_path: Path, stdout: int = subprocess.PIPE) -> tuple[Path, subprocess.Popen]:
    """A home with the First Impressions labels described and a foreground `lprd train`
    in it (writing to `stdout`) that has reached its head's training steps."""
    home = tmp_path / "home"
    args = ["--home", str(home)]
    assert main([*args, "init"]) == 0
    assert main([*args, "labels", "import", *map(str, PICKLES)]) == 0
    assert main([*args, "labels", "describe"]) == 0
    env = {**os.environ, **TRAIN_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", *args, "train"],
        cwd=REPO,
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 180
        while time.monotonic() < end and proc.poll() is None:
            run = _run(home / "lprd.db")
            heads = (run[1] or {}).get("heads", []) if run else []
            if heads and heads[0].get("phase") == "training":
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        assert _training_processes(home / "logs"), "no training job running"
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return home, proc


def _stopped_run_error(home: Path) -> str:
    """The error of the home's last training run, once it is checked that the run was
    recorded as stopped and left no training process behind."""
    assert not [p for p in _training_processes(home / "logs") if _alive(p)]
    with sqlite3.connect(home / "lprd.db") as conn:
        status, error = conn.execute(
            "select status, error from training_runs order by id desc"
        ).fetchone()
    assert status == "stopped", error
    return error


needs_data = pytest.mark.skipif(
    not all(p.exists() for p in PICKLES), reason="no First Impressions data"
)


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_foreground_training(tmp_path, sig) -> None:
    home, proc = _start_training(tmp_path)
    db = home / "lprd.db"
    try:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 128 + sig, text
    assert "stopping the training" in text
    assert not [p for p in _training_processes(home / "logs") if _alive(p)], text
    status, progress = _run(db)
    assert status == "stopped", text
    assert progress and progress["heads"][0]["kind"] == "regression"
    # Not a terminal: plain lines, no progress bars, in the output and the log.
    log_text = next((home / "logs").glob("train-*.log")).read_text(errors="replace")
    assert "\r" not in text and "it/s]" not in log_text


@pytest.mark.slow
@needs_data
def test_a_training_whose_lprd_train_dies_stops_and_says_why(tmp_path) -> None:
    """`lprd train` killed outright (as when its terminal goes away mid-stop): the job it
    started notices, stops its head process and records the run as stopped, not failed."""
    home, proc = _start_training(tmp_path)
    proc.kill()
    proc.wait()
    end = time.monotonic() + 40
    while time.monotonic() < end and (
        _run(home / "lprd.db")[0] == "running"
        or any(_alive(p) for p in _training_processes(home / "logs"))
    ):
        time.sleep(0.5)
    error = _stopped_run_error(home)
    assert f"the process that started it (pid {proc.pid}) is gone" in error


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("output", ["pipe", "terminal"])
def test_a_hang_up_stops_the_training_though_the_output_is_gone(tmp_path, output) -> None:
    """A closed terminal sends SIGHUP and takes the output with it (EIO from a terminal,
    EPIPE from a closed pipe): `lprd train` still stops its training itself and exits 129;
    the run does not wait for the job to notice its parent is gone."""
    if output == "pipe":
        home, proc = _start_training(tmp_path)
        proc.stdout.close()
    else:  # a pseudo-terminal: the live table, then its terminal closes
        main_fd, terminal_fd = pty.openpty()
        home, proc = _start_training(tmp_path, stdout=terminal_fd)
        os.close(terminal_fd)
        os.close(main_fd)
    proc.send_signal(signal.SIGHUP)
    try:
        proc.wait(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGHUP
    error = _stopped_run_error(home)
    assert error.startswith("training stopped by SIGTERM"), error
