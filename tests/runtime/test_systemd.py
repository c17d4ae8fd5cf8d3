"""The systemd unit runs `lprd run` directly, and the daemon speaks sd_notify for real."""

from __future__ import annotations

import configparser
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.daemon_proc import new_home, start_daemon


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


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
MAX_EXPOSURE = 2.5


def _installed_copy(name: str, folder: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's lprd, as `verify` checks it exists."""
    lprd = Path(sys.executable).with_name("lprd")
    text = (REPO / "systemd" / name).read_text()
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={lprd}", text, flags=re.M)
    copy = folder / name
    copy.write_text(text)
    return copy


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", ["lprd.service", "lprd-user.service"])
def test_unit_is_rated_safe_by_systemd_analyze(name: str, tmp_path: Path) -> None:
    rated = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(REPO / "systemd" / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", rated.stdout)
    assert found, rated.stdout + rated.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, rated.stdout
    if not Path(sys.executable).with_name("lprd").exists():
        pytest.skip("no installed lprd script for `systemd-analyze verify` to find")
    verified = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(_installed_copy(name, tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr


def test_units_keep_the_home_private_and_the_network_off() -> None:
    for name in ("lprd.service", "lprd-user.service"):
        service = _unit(name)["Service"]
        assert service["UMask"] == "0077"
        assert service["RestrictAddressFamilies"] == "AF_UNIX"
        assert service["CapabilityBoundingSet"] == ""
        assert service["PrivateDevices"] == "yes"
        lines = (REPO / "systemd" / name).read_text().splitlines()
        assert {"DeviceAllow=char-nvidia-frontend rw", "DeviceAllow=char-drm rw"} <= set(lines)
