"""Wake-ups for idle workers on PostgreSQL: LISTEN/NOTIFY on one channel.

Whatever makes a stage run claimable now (a new video, a finished dependency, a run
released, reaped or re-queued) calls `notify_work` inside its transaction; PostgreSQL
delivers the notification when the transaction commits, to every listening daemon on
every host. `WorkListener` is the receiving end: one connection per daemon that LISTENs
and hands each payload (a resource class, or `ANY`) to a callback. On SQLite both are
no-ops and idle workers keep polling; the poll stays as the fallback on PostgreSQL too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import Database, dialect_of

CHANNEL = "lprd_work"
ANY = "*"  # payload that wakes workers of every resource class
_SENT = "lprd_notified"  # session.info key: what this transaction already announced

log = logging.getLogger("lprd.notify")


def notify_work(session: Session, resource: str = ANY) -> None:
    """Announce, at commit, that a stage run of `resource` can be claimed now."""
    if dialect_of(session) != "postgresql":
        return
    sent = session.info.setdefault(_SENT, set())
    if resource in sent or ANY in sent:
        return
    sent.add(resource)
    session.execute(select(func.pg_notify(CHANNEL, resource)))


class WorkListener(threading.Thread):
    """A thread that LISTENs on the work channel and calls `on_work(payload)`.

    After every (re)connection it calls `on_work(ANY)`: what was announced while it was
    not listening is then picked up at once. A lost connection is retried every
    `retry_s` seconds; meanwhile the workers' poll carries on.
    """

    def __init__(
        self,
        db: Database,
        on_work: Callable[[str], None],
        stop_event: threading.Event,
        retry_s: float = 5.0,
    ) -> None:
        super().__init__(name="work-listener", daemon=True)
        self.db = db
        self.on_work = on_work
        self.stop_event = stop_event
        self.retry_s = retry_s
        self.listening = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - the poll covers while it reconnects
                self.listening.clear()
                log.warning("work channel lost (%s); listening again in %.0f s", exc, self.retry_s)
                self.stop_event.wait(self.retry_s)

    def _listen(self) -> None:
        pooled = self.db.engine.raw_connection()
        conn = pooled.driver_connection
        pooled.detach()  # a LISTENing connection must never go back to the pool
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self.on_work(ANY)
            while not self.stop_event.is_set():
                for note in conn.notifies(timeout=1.0):
                    self.on_work(note.payload)
        finally:
            conn.close()
