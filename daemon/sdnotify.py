"""systemd notification protocol (sd_notify) without a dependency.

With `Type=notify`, systemd passes NOTIFY_SOCKET; lprd sends READY=1 once it runs,
WATCHDOG=1 pings, STATUS= lines and STOPPING=1. Without systemd this does nothing.
"""

from __future__ import annotations

import os
import socket


class SystemdNotifier:
    """Sends sd_notify messages when running under systemd."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET")
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        self.address = address
        usec = os.environ.get("WATCHDOG_USEC")
        self.watchdog_interval_s = int(usec) / 2_000_000 if usec and usec.isdigit() else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, message: str) -> None:
        """Send one message; errors are ignored (systemd may be restarting)."""
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.address)
                sock.sendall(message.encode())
        except OSError:
            pass

    def ready(self) -> None:
        self.notify("READY=1")

    def ping(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")
