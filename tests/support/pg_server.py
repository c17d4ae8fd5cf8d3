"""A throwaway PostgreSQL server for tests and benchmarks.

`PgServer.start()` runs Debian's `postgresql` package binaries (initdb, postgres) on a
fresh data folder in /tmp. The server listens on a unix socket inside that folder (and,
with `tcp=True`, on a free port of 127.0.0.1), trusts local connections and runs with
fsync off: it exists for one test session or one benchmark and is deleted after. It is
a child of the process that started it and shuts down when that process ends, even by
kill -9. PostgreSQL refuses to run as root (CI runs
as root), so under root the folder is given to an unprivileged account (`postgres`, else
`nobody`) and the server runs as that account. Anything missing raises
`PgUnavailableError` naming it.
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

SUPERUSER = "lprd"
PORT = 5432  # names the socket file; nothing listens on TCP unless asked
BIN_ENV = "LPRD_PG_BIN"  # folder of initdb/postgres, if not the newest /usr/lib/postgresql/*
START_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1
UNPRIVILEGED = ("postgres", "nobody")
SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
}


class PgUnavailableError(RuntimeError):
    """No PostgreSQL server can be started here; the message says what is missing."""


def find_bin_dir() -> Path:
    """The folder with initdb and postgres: $LPRD_PG_BIN, PATH, or the newest Debian one."""
    candidates = []
    if os.environ.get(BIN_ENV):
        candidates.append(Path(os.environ[BIN_ENV]))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    candidates += [Path(p) for p in reversed(debian)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    raise PgUnavailableError(
        "initdb and postgres not found (install Debian's `postgresql` package, "
        f"or set {BIN_ENV} to the folder that has them)"
    )


def server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: None for the current one, an unprivileged one
    under root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PgUnavailableError(
        f"running as root and none of the accounts {', '.join(UNPRIVILEGED)} exists: "
        "PostgreSQL refuses to run as root"
    )


class PgServer:
    """A running throwaway server; `url(name)` connects to one of its databases."""

    def __init__(self, root: Path, bin_dir: Path, account: pwd.struct_passwd | None) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.account = account
        self.data = root / "data"
        self.port = PORT
        self.process: subprocess.Popen | None = None
        self._stopped = False

    @classmethod
    def start(cls, settings: Mapping[str, str] | None = None, tcp: bool = False) -> PgServer:
        """initdb a temp folder and start a server on a socket inside it; `settings`
        override the test settings (e.g. fsync on for a benchmark); with `tcp` it also
        listens on 127.0.0.1, on a free port (`server.port`)."""
        bin_dir = find_bin_dir()
        account = server_account()
        root = Path(tempfile.mkdtemp(prefix="lprd-pg-"))
        server = cls(root, bin_dir, account)
        if tcp:
            server.port = free_tcp_port()
            settings = {"listen_addresses": "127.0.0.1", **(settings or {})}
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
        try:
            server._run("initdb", "-D", str(server.data), "-U", SUPERUSER, "--auth=trust",
                        "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
            server._serve({**SETTINGS, **(settings or {})})
        except PgUnavailableError:
            server.stop()
            raise
        atexit.register(server.stop)
        return server

    def _as_account(self) -> dict:
        """Popen arguments that run a tool as the server's account."""
        return as_account(self.account)

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(
            [str(self.bin_dir / tool), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            **self._as_account(),
        )
        if proc.returncode != 0:
            raise PgUnavailableError(f"{tool} failed ({proc.returncode}): {proc.stderr[-2000:]}")

    def _serve(self, settings: Mapping[str, str]) -> None:
        """Run `postgres` as a child that dies with this process; wait until it answers."""
        args = [str(self.bin_dir / "postgres"), "-D", str(self.data), "-k", str(self.root),
                "-p", str(self.port)]  # fmt: skip
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        self.process = start_child(args, self.root / "server.log", signal.SIGQUIT, self.account)
        wait_until_up(self.process, self.connect, self.root / "server.log")

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of one database of this server (over its unix socket)."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.root}&port={self.port}"

    def connect(self, database: str = "postgres", **kwargs: object):
        """A psycopg connection (autocommit) to one database, as superuser, over the
        server's own socket."""
        import psycopg

        return psycopg.connect(
            host=str(self.root), port=self.port, user=SUPERUSER, dbname=database,
            autocommit=True, **kwargs,
        )  # fmt: skip

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) as superuser."""
        with self.connect() as conn:
            conn.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of `template` if given); returns its URL."""
        copy = f" TEMPLATE {template}" if template else ""
        self.execute(f"CREATE DATABASE {name}{copy}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections are still open on it."""
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server at once (immediate shutdown) and delete its folder."""
        if self._stopped:
            return
        self._stopped = True
        end_child(self.process, signal.SIGQUIT)
        shutil.rmtree(self.root, ignore_errors=True)


def as_account(account: pwd.struct_passwd | None) -> dict:
    """Popen arguments that run a program as `account` (None: the current one)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def free_tcp_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_child(
    args: list[str], log: Path, stop_signal: signal.Signals, account: pwd.struct_passwd | None
) -> subprocess.Popen:
    """Run a server program (as `account`) in its log's folder, output to `log`; it gets
    `stop_signal` when this process ends."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            args, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=signal_with_parent(stop_signal), **as_account(account),
        )  # fmt: skip


def wait_until_up(process: subprocess.Popen, connect: Callable[..., object], log: Path) -> None:
    """Wait until `connect(connect_timeout=...)` succeeds; PgUnavailableError with the
    end of `log` if the program exits or does not answer in time."""
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            connect(connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise PgUnavailableError(f"{Path(process.args[0]).name} did not start: {tail}")
        time.sleep(0.1)


def end_child(process: subprocess.Popen | None, stop_signal: signal.Signals) -> None:
    """Send a started server program its shutdown signal; kill it after 30 s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(stop_signal)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def signal_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A Popen `preexec_fn`: the child gets `sig` (its shutdown signal) when the process
    that started it ends, however it ends."""

    def arm() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, sig) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")

    return arm
