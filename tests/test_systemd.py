"""The systemd unit runs `lprd run` directly, and the daemon speaks sd_notify for real."""

from __future__ import annotations

import configparser
import signal
import socket
from pathlib import Path

from tests.conftest import REPO
from tests.daemon_proc import new_home, start_daemon


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(REPO / "systemd" / name)
    return parser


def test_system_unit_is_sandboxed_and_runs_lprd_directly() -> None:
    service = _unit("lprd.service")["Service"]
    assert service["Type"] == "notify"
    assert service["ExecStart"].split()[0].endswith("/lprd")
    assert service["ExecStart"].split()[1:] == ["run"]
    assert "sh" not in Path(service["ExecStart"].split()[0]).name.split(".")
    assert service["Restart"] == "on-failure"
    assert int(service["TimeoutStopSec"]) > 60  # above the default stop timeout
    assert int(service["WatchdogSec"]) > 0
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
    }.items():
        assert service[key] == value
    assert service["ReadWritePaths"] == "/var/lib/lprd"
    assert "LPRD_HOME=/var/lib/lprd" in service["Environment"]


def test_user_unit_exists_and_notifies() -> None:
    service = _unit("lprd-user.service")["Service"]
    assert service["Type"] == "notify" and service["ExecStart"].endswith("lprd run")


def test_daemon_sends_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    home = new_home(tmp_path)
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(60)
    proc = start_daemon(home, NOTIFY_SOCKET=address, WATCHDOG_USEC="1000000")
    try:
        messages = []
        while "WATCHDOG=1" not in messages:
            messages.append(sock.recv(4096).decode())
        assert "READY=1" in messages
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in messages:
            messages.append(sock.recv(4096).decode())
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
