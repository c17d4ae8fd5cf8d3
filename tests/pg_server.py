"""A throwaway PostgreSQL server for tests and benchmarks.

`PgServer.start()` runs Debian's `postgresql` package binaries (initdb, postgres) on a
fresh data folder in /tmp. The server listens only on a unix socket inside that folder,
trusts local connections and runs with fsync off: it exists for one test session or one
benchmark and is deleted after. It is a child of the process that started it and shuts
down when that process ends, even by kill -9. PostgreSQL refuses to run as root (CI runs
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
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

SUPERUSER = "lprd"
PORT = 5432  # only names the socket file; nothing listens on TCP
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
        self.process: subprocess.Popen | None = None
        self._stopped = False

    @classmethod
    def start(cls, settings: Mapping[str, str] | None = None) -> PgServer:
        """initdb a temp folder and start a server on a socket inside it; `settings`
        override the test settings (e.g. fsync on for a benchmark)."""
        bin_dir = find_bin_dir()
        account = server_account()
        root = Path(tempfile.mkdtemp(prefix="lprd-pg-"))
        server = cls(root, bin_dir, account)
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
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

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
                "-p", str(PORT)]  # fmt: skip
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                args, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_quit_with_parent, **self._as_account(),
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "server.log").read_text(errors="replace")[-2000:]
                raise PgUnavailableError(f"postgres did not start: {tail}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        import psycopg

        try:
            psycopg.connect(
                host=str(self.root), port=PORT, user=SUPERUSER, dbname="postgres",
                connect_timeout=2,
            ).close()  # fmt: skip
        except psycopg.OperationalError:
            return False
        return True

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of one database of this server (over its unix socket)."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.root}&port={PORT}"

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) as superuser."""
        import psycopg

        with psycopg.connect(
            host=str(self.root), port=PORT, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
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
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def _quit_with_parent() -> None:
    """In the server's process, before exec: SIGQUIT (immediate shutdown) when the
    process that started it ends, however it ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
