"""A watchdog observer on the inbox that turns filesystem events into inbox hints."""

from __future__ import annotations

import logging
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from daemon.logtext import one_line
from daemon.runtime.inbox import Inbox

log = logging.getLogger("lprd.watcher")


class _InboxEventHandler(FileSystemEventHandler):
    def __init__(self, inbox: Inbox, wake) -> None:
        self.inbox = inbox
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for attr in ("src_path", "dest_path"):
            path = getattr(event, attr, "")
            if path:
                self.inbox.notify(Path(path))
        self.wake()


def start_watcher(inbox: Inbox, wake) -> Observer:
    """Start a recursive observer on the inbox; events only hint, the DB decides."""
    observer = Observer()
    observer.schedule(_InboxEventHandler(inbox, wake), str(inbox.root), recursive=True)
    observer.daemon = True
    observer.start()
    log.info("watching %s", one_line(inbox.root))
    return observer
