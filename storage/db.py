"""Engine and sessions for lprd's database: SQLite (the default) or PostgreSQL.

On SQLite (WAL, busy timeout, foreign keys), write transactions that must not interleave
(claims, transitions) use `BEGIN IMMEDIATE` so SQLite takes the write lock up front
instead of failing half-way with SQLITE_BUSY. PostgreSQL locks rows, not the database:
claims lock theirs with `FOR UPDATE SKIP LOCKED` (storage/transitions.py), and a lock
wait longer than the busy timeout fails with `lock_not_available`, which `is_locked`
recognises like SQLite's "database is locked". A claim and a completion are one statement
each there, run by `Database.transition()` without BEGIN/COMMIT round trips.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

BUSY_TIMEOUT_MS = 30_000
# PostgreSQL connections per engine: one per worker thread plus the service's own
# threads (scheduler, reaper, inbox) fit in the pool; bursts may overflow it.
PG_POOL_SIZE = 8
PG_MAX_OVERFLOW = 16
# SQLSTATEs of a transaction that lost a race and may simply be tried again:
# lock_not_available (lock_timeout), serialization_failure, deadlock_detected.
PG_RETRYABLE = {"55P03", "40001", "40P01"}


def utcnow() -> datetime:
    """Naive UTC now: what every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def sqlite_url(db_path: Path | str) -> str:
    """SQLAlchemy URL for a SQLite file."""
    return f"sqlite:///{Path(db_path)}"


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` name lprd's PostgreSQL driver, psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    """True when `url` names a SQLite database."""
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL or an in-memory SQLite database."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


# A password in a URL (`scheme://user:PASSWORD@host`, any scheme, parseable or not) and
# in a query or libpq keyword string (`password=PASSWORD`). In a URL it runs to the last
# "@": it may hold an unescaped "@" or "/" (which SQLAlchemy would split elsewhere).
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s'\"]*:)[^\s'\"]*(@)")
_KEY_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|[^&\s'\"]+)", re.IGNORECASE)


def hide_password(text: str) -> str:
    """`text` with every password of a database URL or connection string in it shown as
    `***`: for any message or log line that may hold a URL, even one that does not parse."""
    text = _URL_PASSWORD.sub(r"\1***\2", text)
    return _KEY_PASSWORD.sub(r"\1***", text)


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs (also a URL that does not
    parse, and a password given as a query parameter)."""
    if _URL_PASSWORD.search(url):
        return hide_password(normalize_url(url))
    try:
        shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL that does not parse is still shown, masked
        shown = url
    return hide_password(shown)


def split_password(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password or None): a password can then travel
    to a child process in its environment (PGPASSWORD) instead of a file."""
    parsed = make_url(normalize_url(url))
    if parsed.password is None:
        return url, None
    # URL.set() treats None as "unchanged"; the URL is a named tuple, so replace the field.
    return parsed._replace(password=None).render_as_string(hide_password=False), parsed.password


def make_engine(
    url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *, read_only: bool = False, **kwargs: Any
) -> Engine:
    """Create an engine with lprd's settings for its backend applied to every connection;
    `read_only` makes every write fail (the dashboard)."""
    url = normalize_url(url)
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000}, **kwargs)
        _configure_sqlite(engine, busy_timeout_ms, read_only)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", PG_POOL_SIZE)
        kwargs.setdefault("max_overflow", PG_MAX_OVERFLOW)
        kwargs.setdefault("pool_recycle", 1800)
    # No ping per checkout (a round trip per transaction): a connection the server
    # dropped fails once, the pool is invalidated, and is_locked() has it retried.
    engine = create_engine(url, **kwargs)
    _configure_postgresql(engine, busy_timeout_ms, read_only)
    return engine


def is_locked(exc: BaseException) -> bool:
    """True when a transaction lost a race and may be tried again: SQLite's "database is
    locked/busy" (another writer held it past the timeout), PostgreSQL's lock timeout,
    serialization failure or deadlock, or a connection the server dropped (restart)."""
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) in PG_RETRYABLE
    ):
        return True
    text = str(exc).lower()
    return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)


def dialect_of(session: Session) -> str:
    """The backend of the session's database: "sqlite" or "postgresql"."""
    return session.get_bind().dialect.name


def dialect_insert(session: Session):
    """`insert` of the session's dialect, with its `on_conflict_do_*` (both backends have it)."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert
    return sqlite.insert


def _configure_postgresql(engine: Engine, busy_timeout_ms: int, read_only: bool) -> None:
    """lprd's session settings, set on each new connection with one statement. Not the
    `options` startup parameter: a pgbouncer in front of the server refuses it."""
    settings = {"lock_timeout": str(int(busy_timeout_ms)), "TimeZone": "UTC"}
    if read_only:
        settings["default_transaction_read_only"] = "on"
    statement = "SELECT " + ", ".join(
        f"set_config('{k}', '{v}', false)" for k, v in settings.items()
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # session settings, not inside a transaction
        try:
            dbapi_conn.execute(statement)
        finally:
            dbapi_conn.autocommit = autocommit


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred-only).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The engine plus two session factories: plain (reads) and immediate (writes)."""

    def __init__(
        self, url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *, read_only: bool = False
    ) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(url, busy_timeout_ms, read_only=read_only)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )
        self._transition = self._write
        if self.dialect == "postgresql":
            self._transition = sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )

    @classmethod
    def at(cls, db_path: Path | str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
        """Open the SQLite database file at `db_path`."""
        return cls(sqlite_url(db_path), busy_timeout_ms)

    @property
    def dialect(self) -> str:
        """The backend: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

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
        """A write transaction (`BEGIN IMMEDIATE` on SQLite), committed on success, rolled
        back on error."""
        with self._write() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def transition(self) -> Iterator[Session]:
        """The transaction of one claim or completion (`storage.transitions.claim_next`,
        `complete`): on PostgreSQL those are one statement each, atomic on its own, so
        the session autocommits and saves the BEGIN and COMMIT round trips; on SQLite
        it is `write()` (there they are several statements under the write lock).
        Nothing that runs more than one statement on PostgreSQL belongs here."""
        with self._transition() as session, session.begin():
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
    # The option is interpolated: a "%" (an escaped character of a password) is doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(url: str) -> str | None:
    """The Alembic revision the database is at, or None for a new database."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url, poolclass=NullPool)
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


def is_initialised(url: str) -> bool:
    """True when the database exists and has been migrated (`lprd init` ran)."""
    path = sqlite_path(url)
    if path is not None and (not path.is_file() or path.stat().st_size == 0):
        return False  # a check must not create a SQLite file nor write an empty one's header
    return current_revision(url) is not None


def upgrade(target: Path | str) -> str | None:
    """Bring the database (a SQLite file path or a URL) to the newest schema.

    A SQLite file that exists is backed up first; returns the path of the backup, or
    None when no backup was made (PostgreSQL is backed up with its own tools).
    """
    from alembic import command

    url = sqlite_url(target) if isinstance(target, Path) else normalize_url(target)
    db_path = sqlite_path(url)
    backup = None
    if db_path is not None and db_path.exists():
        current = current_revision(url)
        if current is not None and current != head_revision():
            backup = f"{db_path}.{current}.bak"
            shutil.copy2(db_path, backup)
    command.upgrade(alembic_config(url), "head")
    return backup
