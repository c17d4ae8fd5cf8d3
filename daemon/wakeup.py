"""Where idle workers wait: their poll interval, cut short by a PostgreSQL NOTIFY.

On SQLite nothing announces new work, so a worker waits its poll interval (or until the
daemon stops). On PostgreSQL a `WorkListener` sets the event of the announced resource
class and the workers of that class claim at once.
"""

from __future__ import annotations

import threading

from storage.db import Database
from storage.notify import ANY, WorkListener


class Wakeup:
    """One event per resource class; `wake` sets them, `wait` waits on one."""

    def __init__(
        self, stop_event: threading.Event, resources: tuple[str, ...] = ("cpu", "gpu")
    ) -> None:
        self.stop_event = stop_event
        self._events = {resource: threading.Event() for resource in resources}
        self._lock = threading.Lock()
        self.listener: WorkListener | None = None

    def _event(self, resource: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(resource, threading.Event())

    def wait(self, resource: str, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for work of `resource`; True when woken before that."""
        event = self._event(resource)
        woken = event.wait(timeout_s)
        event.clear()
        return woken

    def wake(self, resource: str = ANY) -> None:
        """Wake the idle workers of `resource` (of every class for `ANY`)."""
        if resource != ANY:
            self._event(resource).set()
            return
        with self._lock:
            events = list(self._events.values())
        for event in events:
            event.set()

    def listen(self, db: Database) -> None:
        """On PostgreSQL, start the thread that turns NOTIFYs into wake-ups."""
        if db.dialect != "postgresql" or self.listener is not None:
            return
        self.listener = WorkListener(db, self.wake, self.stop_event)
        self.listener.start()

    def stop(self) -> None:
        """Wake every waiting worker so that it sees the stop."""
        self.stop_event.set()
        self.wake(ANY)
