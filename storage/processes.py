"""Process identity: a process is a host plus a pid. lprd writes it two ways, `host~pid`
on the partial files a process signs (see artifacts.py) and `host:pid:name` as a worker
thread's id (`stage_runs.worker_id`); both are built and read back here only, beside the
one check of whether a pid of this host is alive."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

TAG_SEPARATOR = "~"  # host~pid: a file name part, so no ':' (not portable in file names)
THREAD_SEPARATOR = ":"


def this_host() -> str:
    """The name this host goes by in the `workers` table and in worker ids."""
    return socket.gethostname()


@dataclass(frozen=True)
class ProcessId:
    """One process of one host."""

    host: str
    pid: int

    @classmethod
    def here(cls) -> ProcessId:
        """This process."""
        return cls(this_host(), os.getpid())

    @property
    def tag(self) -> str:
        """How the process signs the partial files it writes: `host~pid`."""
        return f"{self.host}{TAG_SEPARATOR}{self.pid}"

    @property
    def thread_prefix(self) -> str:
        """The start of every worker thread id of this process: `host:pid:`."""
        return f"{self.host}{THREAD_SEPARATOR}{self.pid}{THREAD_SEPARATOR}"

    def thread_id(self, name: str) -> str:
        """A worker thread's id: `host:pid:name`."""
        return f"{self.thread_prefix}{name}"

    @classmethod
    def from_tag(cls, tag: str) -> ProcessId | None:
        """The process of a `host~pid` signature; None when it is not one."""
        host, _, pid = tag.rpartition(TAG_SEPARATOR)
        return cls(host, int(pid)) if host and pid.isdigit() else None

    @classmethod
    def from_thread_id(cls, worker_id: str) -> ProcessId | None:
        """The process of a `host:pid:name` worker thread id; None when it is not one."""
        parts = worker_id.split(THREAD_SEPARATOR)
        if len(parts) < 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]))

    @property
    def on_this_host(self) -> bool:
        return self.host == this_host()


def pid_alive(pid: int | None) -> bool:
    """True while a process of this host exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
