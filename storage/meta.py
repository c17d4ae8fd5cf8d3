"""Key/value facts in the `meta` table (next retrain check, daemon heartbeat...)."""

from __future__ import annotations

from sqlalchemy import delete, select

from storage.db import Database, dialect_insert
from storage.models import Meta


def set_meta(db: Database, key: str, value: str) -> None:
    """Insert or replace one value."""
    with db.write() as session:
        stmt = dialect_insert(session)(Meta).values(key=key, value=value)
        session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def get_meta(db: Database, key: str) -> str | None:
    """The stored value, or None."""
    with db.read() as session:
        return session.execute(select(Meta.value).where(Meta.key == key)).scalar_one_or_none()


def delete_meta(db: Database, key: str) -> None:
    """Remove one value (nothing happens when it is absent)."""
    with db.write() as session:
        session.execute(delete(Meta).where(Meta.key == key))
