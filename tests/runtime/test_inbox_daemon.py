"""The bad-input corpus against a real daemon process with a real watchdog observer:
every file ends in the right visible state with a clear message, and the daemon stays up."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.pipeline import Pipeline
from daemon.runtime.inbox import Inbox
from daemon.runtime.worker import Services, Worker
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import StageRun, Video
from tests.conftest import real_clips, requires_clips
from tests.support.daemon_proc import (
    daemon_log,
    inbox_states,
    network_attempts,
    network_audit,
    new_home,
    stage_states,
    start_daemon,
    stop_process,
    wait_for,
    without_file_read_override,
)
from tests.support.media_factory import make_audio_only, make_video, tone


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
            blocked = runs[(name, "extract_audio")]
            assert blocked.status == "pending" and blocked.error_kind == "blocked"  # visibly
            assert "probe failed" in blocked.last_error
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


def _hostile_entries(inbox: Path) -> None:
    """Entries that once ended `lprd run` at every start: each must become a visible state."""
    os.symlink("loop.mp4", inbox / "loop.mp4")  # points at itself
    make_video(inbox / "latin1-\xe9t\xe9.mp4".encode("latin-1").decode("utf-8", "surrogateescape"))
    locked = make_video(inbox / "locked.mp4", seconds=1.0)
    locked.chmod(0)
    os.mkfifo(inbox / "pipe.mp4")
    (inbox / "folder.mp4").mkdir()


def test_hostile_inbox_entries_are_rejected_and_the_daemon_stays_up(tmp_path: Path) -> None:
    home = new_home(tmp_path)
    inbox = home / "inbox"
    _hostile_entries(inbox)
    make_video(inbox / "good.mp4", seconds=1.0)
    db = Database.at(home / "lprd.db")
    proc = start_daemon(home, prefix=without_file_read_override())
    try:
        expected = {"loop.mp4", "locked.mp4", "pipe.mp4", "folder.mp4", "good.mp4"}
        assert wait_for(lambda: expected <= set(inbox_states(db)), 30), daemon_log(home)
        # Arriving while the daemon runs (watchdog events, not the start-up scan).
        os.symlink("again.mp4", inbox / "again.mp4")
        make_video(inbox / "later.mp4", seconds=1.5)

        def settled() -> bool:
            states = inbox_states(db)
            return len(states) == 8 and "waiting" not in {s for s, _ in states.values()}

        assert wait_for(settled, 30), (inbox_states(db), daemon_log(home))
        states = inbox_states(db)
        assert proc.poll() is None, daemon_log(home)
        assert states["good.mp4"][0] == states["later.mp4"][0] == "registered"
        for name, words in {
            "loop.mp4": "symlink loop",
            "again.mp4": "symlink loop",
            "locked.mp4": "cannot be read",
            "pipe.mp4": "not a regular file",
            "folder.mp4": "folder",
        }.items():
            assert states[name][0] == "rejected" and words in states[name][1], (name, states)
        odd = [n for n in states if n.startswith("latin1-")]
        assert len(odd) == 1 and states[odd[0]][0] == "rejected"
        assert "not valid UTF-8" in states[odd[0]][1], states[odd[0]]
    finally:
        stop_process(proc)
        db.dispose()
    # And again at the next start: the same entries no longer stop anything.
    again = start_daemon(home, "--until-idle", prefix=without_file_read_override())
    assert again.wait(60) == 0, daemon_log(home)


FORGED = "\n2026-01-01 00:00:00,000 ERROR lprd.inbox: fake"


def test_a_name_with_a_newline_cannot_forge_a_log_line(config, database, model_cache, caplog):
    """Inbox, worker and stage log lines escape names: one record per event, one line."""
    config.inbox.stable_seconds = 0
    config.inbox_dir.mkdir(parents=True)
    make_video(config.inbox_dir / f"clip{FORGED}.mp4", seconds=1.0)
    (config.inbox_dir / f"notes{FORGED}.mp4").write_text("my notes, not a video\n")
    (config.inbox_dir / f"readme{FORGED}.txt").write_text("not a video")
    pipeline = Pipeline.default(["probe"])
    store = ArtifactStore(config.store_dir)
    svc = Services(config, database, store, model_cache, pipeline, {}, threading.Event())
    with caplog.at_level(logging.INFO, logger="lprd"):
        Inbox(config, database, store, pipeline).scan()
        worker = Worker(svc, "cpu", 0)
        while worker.work_once():
            pass
    forged = [r.getMessage() for r in caplog.records if "fake" in r.getMessage()]
    # registered x2, rejected x1; probe on x2, probe failed x1 (its message names the file)
    assert len(forged) >= 6, forged
    shown = FORGED.replace("\n", "\\n")  # the name as the log shows it: escaped
    assert all("\n" not in message and shown in message for message in forged), forged
    assert any("rejected" in m for m in forged) and any("-> failed" in m for m in forged), forged


def test_a_hard_link_to_a_file_outside_the_inbox_is_refused_like_an_outside_symlink(
    config, database, tmp_path
) -> None:
    config.inbox.stable_seconds = 0
    inbox_dir = config.inbox_dir
    (inbox_dir / "sub").mkdir(parents=True)
    outside = make_video(tmp_path / "elsewhere.mp4", seconds=1.0)
    os.link(outside, inbox_dir / "linked.mp4")
    inside = make_video(inbox_dir / "twice.mp4", seconds=1.5)
    os.link(inside, inbox_dir / "sub" / "twice again.mp4")  # every name inside: accepted
    pipeline = Pipeline.default(["probe"])
    inbox = Inbox(config, database, ArtifactStore(config.store_dir), pipeline)
    inbox.scan()
    states = inbox_states(database)
    state, reason = states["linked.mp4"]
    assert state == "rejected" and "hard links" in reason and "outside the inbox" in reason
    assert "allow_hard_links" in reason and "`lprd add`" in reason
    assert {states["twice.mp4"][0], states["twice again.mp4"][0]} == {"registered", "duplicate"}
    # Named by the user, the file is analysed: `lprd add` overrides the refusal.
    assert inbox.register_now(inbox_dir / "linked.mp4").state == "registered"
    # And so does the configuration, for a lab whose inbox is fed by hard links.
    config.inbox.allow_hard_links = True
    os.link(outside, inbox_dir / "allowed.mp4")
    inbox.scan()
    assert inbox_states(database)["allowed.mp4"][0] == "duplicate"  # same content as linked


def test_a_copy_that_pauses_longer_than_stable_seconds_is_replaced_once_complete(
    tmp_path: Path,
) -> None:
    """The first part of a stalled copy is registered (and fails as truncated); when the
    copy goes on, the complete file is analysed and replaces it: no failed phantom."""
    home = new_home(tmp_path)
    data = make_video(tmp_path / "talk.mp4", seconds=3.0, audio=tone(3.0)).read_bytes()
    db = Database.at(home / "lprd.db")
    proc = start_daemon(home)  # stable_seconds = 1
    try:
        assert wait_for(lambda: "lprd running" in daemon_log(home), 30), daemon_log(home)
        with open(home / "inbox" / "talk.mp4", "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()

            def partial_failed() -> bool:
                run = stage_states(db).get(("talk.mp4", "probe"))
                return run is not None and run.status == "failed"

            assert wait_for(partial_failed, 30), (inbox_states(db), daemon_log(home))
            fh.write(data[len(data) // 2 :])
        with db.read() as session:
            first = session.scalars(select(Video)).one()

        def replaced() -> bool:  # the complete file's two stages done, nothing else left
            with db.read() as session:
                runs = session.scalars(select(StageRun)).all()
            return len(runs) == 2 and {r.status for r in runs} == {"done"}

        assert wait_for(replaced, 60), (inbox_states(db), daemon_log(home))
        with db.read() as session:
            videos = session.scalars(select(Video)).all()
            runs = session.scalars(select(StageRun)).all()
        assert [v.size_bytes for v in videos] == [len(data)], videos
        assert {r.video_id for r in runs} == {videos[0].id}
        assert {r.status for r in runs} == {"done"}
        state, reason = inbox_states(db)["talk.mp4"]
        assert state == "registered" and f"replaces video {first.id}" in reason, reason
        assert not (home / "store" / "artifacts" / first.sha256[:2] / first.sha256).exists()
        assert proc.poll() is None
    finally:
        stop_process(proc)
        db.dispose()


def test_a_database_locked_longer_than_the_busy_timeout_is_waited_out(tmp_path: Path) -> None:
    home = new_home(tmp_path)
    inbox = home / "inbox"
    db = Database.at(home / "lprd.db")
    proc = start_daemon(home, LPRD_WORKERS__BUSY_TIMEOUT_S="0.5")
    holder = sqlite3.connect(home / "lprd.db", timeout=30, isolation_level=None)
    try:
        assert wait_for(lambda: "lprd running" in daemon_log(home), 30), daemon_log(home)
        holder.execute("BEGIN IMMEDIATE")
        make_video(inbox / "arrives while locked.mp4", seconds=1.0)
        time.sleep(5)  # ten busy timeouts
        assert proc.poll() is None, daemon_log(home)
        holder.execute("ROLLBACK")
        assert "database is locked" in daemon_log(home)
        assert wait_for(
            lambda: inbox_states(db).get("arrives while locked.mp4", ("",))[0] == "registered",
            30,
        ), daemon_log(home)
        assert proc.poll() is None
    finally:
        holder.close()
        stop_process(proc)
        db.dispose()


def test_a_stop_during_start_up_is_a_clean_exit(tmp_path: Path) -> None:
    """SIGTERM while start-up waits out a locked database: exit 0, not death by signal."""
    home = new_home(tmp_path)
    holder = sqlite3.connect(home / "lprd.db", timeout=30, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    proc = start_daemon(home, LPRD_WORKERS__BUSY_TIMEOUT_S="0.5")
    try:
        assert wait_for(lambda: "start-up retries" in daemon_log(home), 60), daemon_log(home)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, daemon_log(home)
    finally:
        holder.close()
        stop_process(proc)
    assert "stopped during start-up" in daemon_log(home)


def test_a_second_daemon_on_the_same_home_is_refused_naming_the_first(tmp_path: Path) -> None:
    home = new_home(tmp_path)
    make_video(home / "inbox" / "one.mp4", seconds=1.0)
    db = Database.at(home / "lprd.db")
    first = start_daemon(home)
    try:
        assert wait_for(lambda: inbox_states(db).get("one.mp4", ("",))[0] == "registered", 30), (
            daemon_log(home)
        )
        second = start_daemon(home, log=tmp_path / "second.log")
        assert second.wait(60) != 0
        said = (tmp_path / "second.log").read_text()
        assert "already running" in said and f"pid {first.pid}" in said, said
        assert "Traceback" not in said
        assert {s for s, _ in inbox_states(db).values()} == {"registered"}
        assert first.poll() is None
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGTERM)
            first.wait(30)
        db.dispose()


ALL_STAGES = json.dumps(
    [
        "probe",
        "extract_audio",
        "diarize",
        "transcribe",
        "speech_emotion",
        "prosody",
        "analyze_face",
        "describe",
        "predict",
    ]
)
SECRET = "hf_testsecret0123456789"


@pytest.fixture(scope="module")
def processed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home where the daemon ran every stage on a real clip, network attempts recorded."""
    if not real_clips():
        pytest.skip("../shared clips are not present")
    tmp_path = tmp_path_factory.mktemp("processed")
    home = tmp_path / "home"
    init = subprocess.run(
        [sys.executable, "-m", "daemon", "init", "--home", str(home)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    shutil.copy(real_clips()[0], home / "inbox" / real_clips()[0].name)
    prefix, env, _log = network_audit(tmp_path / "net")
    proc = start_daemon(
        home,
        "--until-idle",
        prefix=prefix,
        LPRD_STAGES=ALL_STAGES,
        LPRD_INBOX__STABLE_SECONDS="0",
        LPRD_AUDIO__HF_TOKEN=SECRET,
        LPRD_LOG_LEVEL="DEBUG",
        **env,
    )
    assert proc.wait(300) == 0, daemon_log(home)
    db = Database.at(home / "lprd.db")
    runs = stage_states(db)
    db.dispose()
    assert runs[(real_clips()[0].name, "analyze_face")].status == "done", daemon_log(home)
    assert runs[(real_clips()[0].name, "transcribe")].status == "done", daemon_log(home)
    return home


@requires_clips
@pytest.mark.slow
def test_processing_a_real_clip_opens_no_network_connection(processed_home: Path) -> None:
    net = processed_home.parent / "net"
    assert network_attempts(net) == [], network_attempts(net)
    assert "network: off" in daemon_log(processed_home)


@requires_clips
@pytest.mark.slow
def test_a_processed_home_is_private_and_holds_no_secret(processed_home: Path) -> None:
    entries = [processed_home, *processed_home.rglob("*")]
    assert any(p.name == "audio.wav" for p in entries)
    assert any(p.name == "analyze_face.json" for p in entries)
    original = processed_home / "inbox" / real_clips()[0].name  # the user's, never modified
    exposed = [
        f"{oct(p.lstat().st_mode & 0o777)} {p}"
        for p in entries
        if p not in (original, processed_home / "daemon.log")
        and not p.is_symlink()
        and p.lstat().st_mode & 0o077
    ]
    assert exposed == []
    leaks = [p for p in entries if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaks == []
