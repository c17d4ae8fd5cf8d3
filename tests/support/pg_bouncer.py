"""A throwaway pgbouncer in front of a throwaway PostgreSQL server, for tests.

`PgBouncer.start(server)` runs Debian's `pgbouncer` with the pgbouncer.ini README.md's
*Several hosts, one queue* gives, taken from README.md itself, so what it tells a user
is what the tests run. Only what ties it to this machine is changed: the server it
forwards `lprd` to (`server`, started with `tcp=True`, over TCP 127.0.0.1), and its
socket folder and user list (a fresh temp folder). It listens on that unix socket only,
pools in session mode and trusts local clients. It runs as the account the server runs
as (pgbouncer, like PostgreSQL, refuses root), and shuts down when `stop()` is called or
when the process that started it ends. A missing binary raises `PgUnavailableError`
naming the package; a README.md whose pgbouncer.ini lacks a setting changed here raises
`ValueError`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import textwrap
from collections.abc import Mapping
from pathlib import Path

from tests.support.pg_server import (
    SUPERUSER,
    PgServer,
    PgUnavailableError,
    end_child,
    start_child,
    wait_until_up,
)

README = Path(__file__).resolve().parents[2] / "README.md"
DATABASE = "lprd"  # the database README.md's pgbouncer.ini forwards
PORT = 6432  # README.md's listen_port: it names the socket file
SEARCH_PATH = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")


def find_pgbouncer() -> str:
    """The pgbouncer binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("pgbouncer") or shutil.which(
        "pgbouncer", path=os.pathsep.join(SEARCH_PATH)
    )
    if found is None:
        raise PgUnavailableError("pgbouncer not found (install Debian's `pgbouncer` package)")
    return found


def readme_ini() -> str:
    """README.md's pgbouncer.ini: the indented block that starts at `[databases]`."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "[databases]")
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    block = []
    for line in lines[start:]:
        if line.strip() and not line.startswith(indent):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def with_settings(ini: str, values: Mapping[str, str]) -> str:
    """`ini` with the settings named in `values` set to them; each must be in `ini`."""
    lines, found = [], set()
    for line in ini.splitlines():
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in values:
            line, found = f"{key} = {values[key]}", found | {key}
        lines.append(line)
    if missing := sorted(set(values) - found):
        raise ValueError(f"README.md's pgbouncer.ini has no {', '.join(missing)}")
    return "\n".join(lines) + "\n"


class PgBouncer:
    """A running throwaway pgbouncer; `url()` connects to `lprd` through it."""

    def __init__(self, root: Path, server: PgServer) -> None:
        self.root = root
        self.server = server
        self.process = None
        self._stopped = False

    @classmethod
    def start(cls, server: PgServer) -> PgBouncer:
        """Write README.md's pgbouncer.ini, pointed at `server`, to a temp folder and
        start pgbouncer on a socket inside it (the server has the `lprd` database)."""
        binary = find_pgbouncer()
        root = Path(tempfile.mkdtemp(prefix="lprd-bouncer-"))
        bouncer = cls(root, server)
        local = {
            DATABASE: f"host=127.0.0.1 port={server.port} dbname={DATABASE}",
            "unix_socket_dir": str(root),
            "auth_file": str(root / "userlist.txt"),
        }
        (root / "pgbouncer.ini").write_text(with_settings(readme_ini(), local))
        (root / "userlist.txt").write_text(f'"{SUPERUSER}" ""\n')
        if server.account is not None:
            for path in (root, root / "pgbouncer.ini", root / "userlist.txt"):
                os.chown(path, server.account.pw_uid, server.account.pw_gid)
        try:
            bouncer._serve(binary)
        except PgUnavailableError:
            bouncer.stop()
            raise
        atexit.register(bouncer.stop)
        return bouncer

    def _serve(self, binary: str) -> None:
        """Run pgbouncer as a child that dies with this process; wait until it forwards."""
        log = self.root / "pgbouncer.log"
        args = [binary, str(self.root / "pgbouncer.ini")]
        self.process = start_child(args, log, signal.SIGTERM, self.server.account)
        wait_until_up(self.process, self.connect, log)

    def connect(self, **kwargs: object):
        """A psycopg connection (autocommit) to `lprd` through this pgbouncer's socket:
        what another client on this host would open."""
        import psycopg

        return psycopg.connect(
            host=str(self.root), port=PORT, user=SUPERUSER, dbname=DATABASE,
            autocommit=True, **kwargs,
        )  # fmt: skip

    def url(self) -> str:
        """SQLAlchemy URL of `lprd` through this pgbouncer's socket (README.md's form)."""
        return f"postgresql+psycopg://{SUPERUSER}@/{DATABASE}?host={self.root}&port={PORT}"

    def log(self) -> str:
        """What pgbouncer logged so far."""
        path = self.root / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop pgbouncer at once (immediate shutdown) and delete its folder."""
        if self._stopped:
            return
        self._stopped = True
        end_child(self.process, signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)
