"""One daemon per home: an exclusive `flock` on `HOME/lprd.pid`, held for the process's life.

The kernel drops the lock when the process dies (even by `kill -9`), so a stale file
never blocks a restart; the pid written into it names the running daemon in the refusal.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from daemon.errors import LprdError

LOCK_FILENAME = "lprd.pid"


class HomeLocked(LprdError):  # noqa: N818 - reads as a state: "the home is locked"
    """Another lprd daemon holds this home."""


class HomeLock:
    """The exclusive lock of one home; `acquire` refuses when another process holds it."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILENAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid, or raise `HomeLocked` naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise HomeLocked(
                f"another lprd is already running on {self.path.parent} (pid {holder}); "
                "stop it first (`systemctl stop lprd` or `kill "
                f"{holder}`), or give this one another --home"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (also dropped by the kernel when the process ends)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
