"""Engine and sessions for lprd's SQLite database (WAL, busy timeout, foreign keys).

Write transactions that must not interleave (claims, transitions) use `BEGIN IMMEDIATE`
so SQLite takes the write lock up front instead of failing half-way with SQLITE_BUSY.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 30_000


def utcnow() -> datetime:
    """Naive UTC now: what every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def sqlite_url(db_path: Path | str) -> str:
    """SQLAlchemy URL for a SQLite file."""
    return f"sqlite:///{Path(db_path)}"


def make_engine(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS, **kwargs: Any) -> Engine:
    """Create an engine with lprd's SQLite settings applied to every connection."""
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000}, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms)
    return engine


def is_locked(exc: BaseException) -> bool:
    """True for SQLite's "database is locked/busy": another writer held it past the timeout."""
    text = str(exc).lower()
    return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred-only).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The engine plus two session factories: plain (reads) and immediate (writes)."""

    def __init__(self, url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )

    @classmethod
    def at(cls, db_path: Path | str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
        """Open the SQLite database file at `db_path`."""
        return cls(sqlite_url(db_path), busy_timeout_ms)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with self._read() as session:
            try:
                yield session
            finally:
                # Detach what was read so it stays usable after the session ends.
                session.expunge_all()
                session.rollback()

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A `BEGIN IMMEDIATE` transaction, committed on success, rolled back on error."""
        with self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


def migrations_dir() -> Path:
    """Folder of the Alembic environment shipped with lprd."""
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(url: str):  # alembic is imported lazily
    """An Alembic Config pointing at lprd's migrations and the given database."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def current_revision(url: str) -> str | None:
    """The Alembic revision the database is at, or None for a new database."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this version of lprd."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads, expected one: {heads}")
    return heads[0]


def upgrade(db_path: Path) -> str | None:
    """Bring the database at `db_path` to the newest schema; back it up first if it exists.

    Returns the path of the backup, or None when no backup was needed.
    """
    from alembic import command

    url = sqlite_url(db_path)
    backup = None
    current = current_revision(url) if db_path.exists() else None
    if current is not None and current != head_revision():
        backup = f"{db_path}.{current}.bak"
        shutil.copy2(db_path, backup)
    command.upgrade(alembic_config(url), "head")
    return backup
