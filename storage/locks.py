"""Cluster-wide named locks: PostgreSQL advisory locks, held by one connection.

A lock is taken with `pg_try_advisory_lock`, so a host that finds it taken does not wait:
it skips what the lock guards (another host is doing it now). The server releases the
lock when the holder's connection ends, so a host that dies never keeps it. On SQLite
every lock is granted at once: one daemon uses a database file (the home's own lock).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from sqlalchemy import func, select

from storage.db import Database


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def try_lock(db: Database, name: str) -> Iterator[bool]:
    """Yield True while holding the lock `name`, or False at once if another holds it."""
    if db.dialect != "postgresql":
        yield True
        return
    key = lock_key(name)
    with db.engine.connect() as conn:
        got = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
        conn.commit()  # a session-level lock outlives the transaction; don't idle in one
        try:
            yield got
        finally:
            if got:
                conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()
