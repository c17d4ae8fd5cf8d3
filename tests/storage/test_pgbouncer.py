"""A host without the database server reaches PostgreSQL through a local pgbouncer set
up as README.md's *Several hosts, one queue* says (its pgbouncer.ini, read from
README.md): a real `lprd run` (network lock on, Unix sockets only)
talks to pgbouncer's socket, pgbouncer to the server over TCP. The video is registered
and processed, LISTEN/NOTIFY wakes the idle worker, the shared inbox's advisory lock is
taken and given back through the bouncer, and SIGTERM ends the daemon cleanly."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from daemon.config import load_config
from storage.db import Database, upgrade
from storage.locks import lock_key
from storage.models import WorkerProcess
from tests.support.daemon_proc import (
    CORE_STAGES,
    daemon_env,
    daemon_log,
    home_database,
    inbox_states,
    new_home,
    stage_states,
    start_daemon,
    stop_process,
    wait_for,
)
from tests.support.media_factory import make_video, tone
from tests.support.pg_bouncer import DATABASE, PgBouncer
from tests.support.pg_server import PgServer, PgUnavailableError

POLL_S = "60"  # idle workers' poll: anything quicker than this was a NOTIFY


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    """A server on 127.0.0.1 with a migrated `lprd` database and README.md's pgbouncer
    in front of it."""
    try:
        server = PgServer.start(tcp=True)
    except PgUnavailableError as exc:
        pytest.skip(f"pgbouncer tests skipped: no PostgreSQL server could start: {exc}")
    try:
        server.execute(f"CREATE DATABASE {DATABASE}")
        try:
            bouncer = PgBouncer.start(server)
        except PgUnavailableError as exc:
            pytest.skip(f"pgbouncer tests skipped: {exc}")
        try:
            upgrade(bouncer.url())  # the migrations run through the bouncer too
            yield bouncer
        finally:
            bouncer.stop()
    finally:
        server.stop()


def test_lprds_sessions_get_its_settings_through_the_bouncer(bouncer: PgBouncer) -> None:
    """lprd's lock timeout, time zone and the dashboard's read-only mode are set after
    connecting, so they hold through pgbouncer (which refuses the `options` parameter)."""
    query = text(
        "SELECT current_setting('lock_timeout'), current_setting('TimeZone'), "
        "current_setting('default_transaction_read_only'), host(inet_server_addr())"
    )
    seen = []
    for db in (Database(bouncer.url(), 12_345), Database(bouncer.url(), read_only=True)):
        try:
            with db.read() as session:
                seen.append(tuple(session.execute(query).one()))
        finally:
            db.dispose()
    # Reached over TCP, through the bouncer.
    assert seen == [("12345ms", "UTC", "off", "127.0.0.1"), ("30s", "UTC", "on", "127.0.0.1")]


def test_a_daemon_behind_pgbouncer_processes_wakes_locks_and_stops(
    tmp_path: Path, bouncer: PgBouncer
) -> None:
    home = new_home(tmp_path, bouncer.url())
    db = home_database(home)
    inbox_lock = lock_key(f"lprd-inbox:{load_config(home=home, env={}).inbox_dir}")
    proc = start_daemon(home, LPRD_INBOX__SHARED="true", LPRD_WORKERS__POLL_INTERVAL_S=POLL_S)
    try:
        assert wait_for(lambda: _listening(bouncer), 30), daemon_log(home)
        with _held_lock(bouncer, inbox_lock):  # another host handles the shared inbox now
            make_video(tmp_path / "interview.mp4", seconds=1.0, audio=tone(1.0))
            shutil.move(tmp_path / "interview.mp4", home / "inbox" / "interview.mp4")
            time.sleep(4.0)  # two rescans and the stability wait
            assert inbox_states(db) == {}, "the daemon ignored the lock another host held"
        released = time.monotonic()
        stages = set(json.loads(CORE_STAGES))
        assert wait_for(lambda: _done(db) == stages, 30), _story(db, home, bouncer)
        took = time.monotonic() - released
        assert took < float(POLL_S) / 3, f"took {took:.1f} s: no NOTIFY woke the worker"
        assert inbox_states(db)["interview.mp4"][0] == "registered"
        status = _status_json(home)
        mine = [w for w in status["workers"] if w["pid"] == proc.pid]
        assert [w["state"] for w in mine] == ["running"], status["workers"]
        with _held_lock(bouncer, inbox_lock):
            pass  # the daemon gave its inbox lock back after its turn
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, daemon_log(home)
        with db.read() as session:
            left = session.scalar(select(WorkerProcess.state).where(WorkerProcess.pid == proc.pid))
        assert left == "stopped"
    finally:
        stop_process(proc)
        db.dispose()
    log = daemon_log(home)
    assert "work channel lost" not in log and "Traceback" not in log, log
    assert _advisory_locks(bouncer) == 0  # a stopped daemon holds nothing on the server


def _story(db: Database, home: Path, bouncer: PgBouncer) -> str:
    """What the stages, the daemon and pgbouncer say, for a failed wait."""
    runs = {stage: (run.status, run.last_error) for (_, stage), run in stage_states(db).items()}
    return f"{runs}\n--- daemon\n{daemon_log(home)}\n--- pgbouncer\n{bouncer.log()[-3000:]}"


def _done(db: Database) -> set[str]:
    return {stage for (_, stage), run in stage_states(db).items() if run.status == "done"}


def _server_query(bouncer: PgBouncer, sql: str) -> int:
    """One number from the server itself (its own socket, not the bouncer)."""
    with bouncer.server.connect(DATABASE) as conn:
        return conn.execute(sql).fetchone()[0]


def _listening(bouncer: PgBouncer) -> bool:
    """True once a server session LISTENs on lprd's work channel (through the bouncer)."""
    listening = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE query = 'LISTEN lprd_work' AND client_addr = '127.0.0.1'"
    )
    return _server_query(bouncer, listening) > 0


def _advisory_locks(bouncer: PgBouncer) -> int:
    """How many advisory locks the server's sessions hold."""
    return _server_query(bouncer, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")


@contextlib.contextmanager
def _held_lock(bouncer: PgBouncer, key: int) -> Iterator[None]:
    """Hold an advisory lock through the bouncer, as another host would (waiting out a
    turn the daemon may be taking); closing the session gives it back."""
    with bouncer.connect() as conn:

        def taken() -> bool:
            return bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])

        assert wait_for(taken, 10, interval=0.05), "the daemon never gave the lock back"
        yield


def _status_json(home: Path) -> dict:
    """`lprd status --json` as a user runs it, through the same database URL."""
    proc = subprocess.run(
        [sys.executable, "-m", "daemon", "--home", str(home), "status", "--json"],
        env=daemon_env(home), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_without_pgbouncer_the_reason_names_the_package(monkeypatch) -> None:
    from tests.support import pg_bouncer

    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(pg_bouncer, "SEARCH_PATH", ())
    with pytest.raises(PgUnavailableError, match="`pgbouncer` package"):
        pg_bouncer.find_pgbouncer()
