"""lprd's home folder: its folders, made private, and its migrated database, ready for
any command."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import DatabaseError

from daemon.config import Config
from daemon.errors import EmptyDatabaseError, LprdError
from daemon.logtext import one_line
from daemon.privacy import restrict
from storage import db as dbmod

log = logging.getLogger("lprd.daemon")


def prepare_home(config: Config) -> dbmod.Database:
    """Create the folders, migrate the database (a SQLite file is backed up first) and
    open it."""
    for folder in (config.home_dir, config.inbox_dir, config.store_dir, config.logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    private_home(config)
    url = config.database_url
    sqlite_file = dbmod.sqlite_path(url)
    if sqlite_file is not None:
        refuse_unusable_database(sqlite_file)
    try:
        backup = dbmod.upgrade(url)
    except DatabaseError as exc:
        if dbmod.is_locked(exc):
            raise
        if sqlite_file is None:
            raise LprdError(
                f"database {dbmod.safe_url(url)} cannot be used "
                f"({dbmod.hide_password(str(exc.orig or exc))}); "
                "check database.url, the server and the account's rights"
            ) from None
        raise LprdError(
            f"{sqlite_file} cannot be used ({exc.orig or exc}); it may be corrupt. "
            f"To start over, move it aside (mv {sqlite_file} "
            f"{sqlite_file}.broken) and run `lprd init`: every video in the inbox "
            "is then processed again"
        ) from None
    if backup:
        log.info("database migrated; the previous version is backed up at %s", one_line(backup))
    return dbmod.Database(url, busy_timeout_ms=int(config.workers.busy_timeout_s * 1000))


def open_existing_home(config: Config) -> dbmod.Database:
    """The home's database for a command that reads (or edits what is there): it must
    exist and be initialised; it is migrated like `prepare_home` does, never created."""
    require_database(config)
    return prepare_home(config)


def require_database(config: Config) -> None:
    """Refuse, with what to do, a database that is missing, empty or not initialised,
    without creating or touching it (a zero-byte SQLite file stays zero bytes)."""
    url = config.database_url
    refuse_empty_database(url)
    if not database_initialised(url):
        raise LprdError(f"no lprd database at {dbmod.safe_url(url)}: run `lprd init` first")


def database_initialised(url: str) -> bool:
    """`storage.db.is_initialised`, with a file that is not a database named clearly."""
    try:
        return dbmod.is_initialised(url)
    except DatabaseError as exc:
        if dbmod.is_locked(exc) or dbmod.sqlite_path(url) is None:
            raise
        raise LprdError(
            f"{dbmod.sqlite_path(url)} cannot be used ({exc.orig or exc}); it may be corrupt. "
            "Move it aside and run `lprd init` to start over"
        ) from None


def private_home(config: Config) -> None:
    """Only lprd's user may enter the home or read its database (made before the umask)."""
    restrict(config.home_dir, 0o700)
    sqlite_file = dbmod.sqlite_path(config.database_url)
    if sqlite_file is None:
        return  # the server keeps its own files
    for suffix in ("", "-wal", "-shm"):
        restrict(Path(f"{sqlite_file}{suffix}"), 0o600)


def refuse_empty_database(url: str) -> None:
    """`refuse_unusable_database` for the SQLite file of `url`, if it names one."""
    sqlite_file = dbmod.sqlite_path(url)
    if sqlite_file is not None:
        refuse_unusable_database(sqlite_file)


def refuse_unusable_database(path: Path) -> None:
    """A zero-byte database would silently become a new, empty one: refuse instead."""
    if path.exists() and path.is_file() and path.stat().st_size == 0:
        raise EmptyDatabaseError(path)
    if path.exists() and not path.is_file():
        raise LprdError(f"{path} is not a file: paths.database must name the database file")
