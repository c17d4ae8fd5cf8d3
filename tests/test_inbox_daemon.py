"""The bad-input corpus against a real daemon process with a real watchdog observer:
every file ends in the right visible state with a clear message, and the daemon stays up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from storage.db import Database
from tests.conftest import real_clips, requires_clips
from tests.daemon_proc import inbox_states, new_home, stage_states, start_daemon, wait_for
from tests.media_factory import make_audio_only, make_video, tone


def _write_slowly(path: Path, data: bytes, seconds: float) -> None:
    """Copy `data` into `path` in pieces over `seconds`, like a slow network copy."""
    pieces = 8
    step = len(data) // pieces + 1
    with open(path, "wb") as fh:
        for i in range(0, len(data), step):
            fh.write(data[i : i + step])
            fh.flush()
            time.sleep(seconds / pieces)


@requires_clips
@pytest.mark.slow
def test_bad_input_corpus(tmp_path: Path) -> None:
    home = new_home(tmp_path)
    inbox = home / "inbox"
    proc = start_daemon(home)
    db = Database.at(home / "lprd.db")
    try:
        assert wait_for(lambda: (home / "store").exists(), 30)
        clip = real_clips()[0]
        outside = tmp_path / "outside.mp4"
        shutil.copy(clip, outside)
        (inbox / "empty.mp4").write_bytes(b"")
        (inbox / "truncated.mp4").write_bytes(clip.read_bytes()[:4000])
        (inbox / "notes.mp4").write_text("these are my interview notes, not a video\n")
        (inbox / "readme.txt").write_text("not a video")
        make_audio_only(tmp_path / "voice.mp4", tone(2.0))
        shutil.move(tmp_path / "voice.mp4", inbox / "voice only.mp4")
        make_video(tmp_path / "silent.mp4", seconds=1.0)
        shutil.move(tmp_path / "silent.mp4", inbox / "silent.mp4")
        shutil.copy(clip, inbox / "entrevista café — n°1.mp4")
        shutil.copy(clip, inbox / "same content.mp4")
        os.symlink(outside, inbox / "escape.mp4")
        writer = threading.Thread(
            target=_write_slowly, args=(inbox / "slow copy.mp4", real_clips()[1].read_bytes(), 4.0)
        )
        writer.start()
        time.sleep(1.5)
        assert inbox_states(db).get("slow copy.mp4", ("waiting",))[0] == "waiting"
        writer.join()
        # `lprd status` reads while the daemon writes (WAL + busy timeout).
        status = subprocess.run(
            [sys.executable, "-m", "daemon", "--home", str(home), "status", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["inbox"]["states"]

        def settled() -> bool:
            states = inbox_states(db)
            runs = stage_states(db)
            return (
                len(states) == 10
                and "waiting" not in {s for s, _ in states.values()}
                and len(runs) == 2 * 6
                and all(r.status != "running" for r in runs.values())
                and all(r.waiting_on > 0 for r in runs.values() if r.status == "pending")
            )

        assert wait_for(settled, 90), (inbox_states(db), stage_states(db))
        states, runs = inbox_states(db), stage_states(db)
        assert states["empty.mp4"][0] == "rejected" and "empty" in states["empty.mp4"][1]
        assert (
            states["readme.txt"][0] == "rejected"
            and "unsupported file type" in states["readme.txt"][1]
        )
        assert (
            states["escape.mp4"][0] == "rejected" and "outside the inbox" in states["escape.mp4"][1]
        )
        registered = {n for n, (s, _) in states.items() if s == "registered"}
        duplicates = {n for n, (s, _) in states.items() if s == "duplicate"}
        assert {"entrevista café — n°1.mp4", "same content.mp4"} - registered - duplicates == set()
        assert len({"entrevista café — n°1.mp4", "same content.mp4"} & duplicates) == 1
        assert "same content as video" in next(states[n][1] for n in duplicates)
        for name in ("truncated.mp4", "notes.mp4"):
            run = runs[(name, "probe")]
            assert run.status == "failed" and run.error_kind == "permanent"
            assert "corrupt, truncated or not a video" in run.last_error
            assert run.attempts == 1
            assert runs[(name, "extract_audio")].status == "pending"  # blocked, visibly
        assert runs[("voice only.mp4", "probe")].status == "done"
        assert runs[("voice only.mp4", "extract_audio")].status == "done"
        silent = runs[("silent.mp4", "extract_audio")]
        assert silent.status == "skipped" and "no audio track" in silent.skip_reason
        assert runs[("slow copy.mp4", "extract_audio")].status == "done"
        assert proc.poll() is None, "the daemon must stay up"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        db.dispose()
