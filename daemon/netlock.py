"""Keep a process off the network: a seccomp filter that refuses every socket family but
AF_UNIX (what systemd's `RestrictAddressFamilies=AF_UNIX` does), so no library can send
anything anywhere, telemetry included, whatever its own settings say.

Installed by `lprd run` in its own process and by every training job (also the one a
`lprd train` starts) when downloads are not allowed; threads and child processes started
afterwards inherit it. Linux on x86_64 and aarch64 only.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import platform
import socket
import struct

log = logging.getLogger("lprd.netlock")

# (seccomp audit arch, number of the socket syscall) per machine.
_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_LD_ABS_W, _JEQ_K, _RET_K = 0x20, 0x15, 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _filter(arch: int, socket_nr: int) -> bytes:
    insns = [
        (_LD_ABS_W, 0, 0, _ARCH),
        (_JEQ_K, 0, 4, arch),  # another ABI (e.g. x32): leave it alone
        (_LD_ABS_W, 0, 0, _NR),
        (_JEQ_K, 0, 3, socket_nr),
        (_LD_ABS_W, 0, 0, _ARG0),
        (_JEQ_K, 1, 0, socket.AF_UNIX),
        (_RET_K, 0, 0, _RET_ERRNO | errno.EAFNOSUPPORT),
        (_RET_K, 0, 0, _RET_ALLOW),
    ]
    return b"".join(struct.pack("HBBI", *insn) for insn in insns)


def lock_network() -> bool:
    """Refuse every non-AF_UNIX socket from now on, in this thread and all it starts.

    Returns False (and logs why) where the kernel or machine does not allow it.
    """
    machine = platform.machine()
    if platform.system() != "Linux" or machine not in _ARCHES:
        log.warning("network lock unavailable on %s %s", platform.system(), machine)
        return False
    code = _filter(*_ARCHES[machine])
    buffer = ctypes.create_string_buffer(code, len(code))
    program = _Program(len(code) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or (
        libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0
    ):
        log.warning(
            "network lock refused by the kernel: %s", errno.errorcode.get(ctypes.get_errno())
        )
        return False
    return True


def database_host(url: str) -> str | None:
    """The TCP host a PostgreSQL URL connects to; None for SQLite or a Unix socket."""
    from sqlalchemy import make_url

    from storage.db import is_sqlite, normalize_url

    if is_sqlite(url):
        return None
    parsed = make_url(normalize_url(url))
    host = parsed.host or parsed.query.get("host")
    if isinstance(host, tuple):
        host = host[0]
    return host if host and not host.startswith(("/", "@")) else None


def network_database_problem(url: str, who: str) -> str | None:
    """Why `who` cannot run behind the network lock with this database URL (it reaches
    PostgreSQL over TCP, which the lock refuses), or None."""
    host = database_host(url)
    if host is None:
        return None
    return (
        f"database.url reaches PostgreSQL over the network ({host}), but {who} allows "
        "itself local sockets only: connect through a Unix socket instead "
        "(host=/run/postgresql in the URL; on a host without the server, a local "
        "pgbouncer in session mode forwards to it), or set allow_downloads = true "
        "to lift the network lock"
    )


def lock_models_network(allow_downloads: bool, database_url: str, who: str) -> bool:
    """Lock this process (and all it starts) off the network unless `allow_downloads`;
    raises ConfigError when the database is reached over TCP (the lock would cut it off).
    True when the lock is on."""
    from daemon.errors import ConfigError

    if allow_downloads:
        return False
    problem = network_database_problem(database_url, who)
    if problem is not None:
        raise ConfigError(problem)
    if not lock_network():
        return False
    log.info("network: off for %s (only local sockets; allow_downloads = true lifts this)", who)
    return True
