"""A throwaway PostgreSQL server for tests and benchmarks.

`PgServer.start()` runs Debian's `postgresql` package binaries (initdb, pg_ctl) on a
fresh data folder in /tmp. The server listens only on a unix socket inside that folder,
trusts local connections and runs with fsync off: it exists for one test session or one
benchmark and is deleted after. PostgreSQL refuses to run as root (CI runs as root), so
under root the folder is given to an unprivileged account (`postgres`, else `nobody`)
and the server runs as that account. Anything missing raises `PgUnavailableError` naming it.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

SUPERUSER = "lprd"
PORT = 5432  # only names the socket file; nothing listens on TCP
BIN_ENV = "LPRD_PG_BIN"  # folder of initdb/pg_ctl, if not the newest /usr/lib/postgresql/*
UNPRIVILEGED = ("postgres", "nobody")
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
}


class PgUnavailableError(RuntimeError):
    """No PostgreSQL server can be started here; the message says what is missing."""


def find_bin_dir() -> Path:
    """The folder with initdb and pg_ctl: $LPRD_PG_BIN, PATH, or the newest Debian one."""
    candidates = []
    if os.environ.get(BIN_ENV):
        candidates.append(Path(os.environ[BIN_ENV]))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    candidates += [Path(p) for p in reversed(debian)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PgUnavailableError(
        "initdb and pg_ctl not found (install Debian's `postgresql` package, "
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
            merged = {**SETTINGS, **(settings or {})}
            options = f"-k {root} -p {PORT} " + " ".join(
                f"-c {key}={value}" for key, value in merged.items()
            )
            server._run("pg_ctl", "-D", str(server.data), "-l", str(root / "server.log"),
                        "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        except PgUnavailableError:
            shutil.rmtree(root, ignore_errors=True)
            raise
        atexit.register(server.stop)
        return server

    def _run(self, tool: str, *args: str) -> None:
        user = group = None
        if self.account is not None:
            user, group = self.account.pw_uid, self.account.pw_gid
        proc = subprocess.run(
            [str(self.bin_dir / tool), *args],
            cwd=self.root,
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PgUnavailableError(
                f"{tool} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]} {tail}"
            )

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
        """Stop the server at once and delete its folder."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except PgUnavailableError:
            pass  # already gone; the folder goes anyway
        shutil.rmtree(self.root, ignore_errors=True)
