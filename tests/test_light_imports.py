"""`import daemon`, the stage registry, the watcher, `lprd status`, the dashboard and the
report renderer never import torch."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "pyannote", "funasr", "unsloth", "transformers", "mediapipe", "cv2")


def test_status_path_stays_light(tmp_path) -> None:
    code = (
        "import sys\n"
        "import daemon, daemon.cli, daemon.stages, daemon.runtime.watcher, daemon.runtime.status\n"
        "from daemon.pipeline import Pipeline\n"
        "from daemon.cli import main\n"
        "Pipeline.default()\n"
        f"main(['--home', {str(tmp_path)!r}, 'init'])\n"
        f"main(['--home', {str(tmp_path)!r}, 'status'])\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_dashboard_and_report_stay_light(tmp_path) -> None:
    code = (
        "import sys\n"
        "from starlette.testclient import TestClient\n"
        "from daemon.cli import main\n"
        "from daemon.config import load_config\n"
        "from pathlib import Path\n"
        "from daemon.web.app import create_app\n"
        "import daemon.report.make, daemon.stages.report\n"
        f"main(['--home', {str(tmp_path)!r}, 'init'])\n"
        f"client = TestClient(create_app(load_config(home=Path({str(tmp_path)!r}), env={{}})))\n"
        "for path in ('/', '/api/status', '/videos', '/failures', '/models'):\n"
        "    assert client.get(path).status_code == 200, path\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_status_json_imports_neither_the_daemon_nor_numpy(tmp_path) -> None:
    """`lprd status --json` stays fast on a busy machine: it loads what reading needs."""
    from daemon.stages import registered_names, registered_stages

    assert registered_names() == [stage.name for stage in registered_stages()]
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['lprd', '--home', {str(tmp_path)!r}, 'status', '--json']\n"
        "try:\n"
        "    runpy.run_module('daemon', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in ('numpy', 'av', 'daemon.runtime.service', 'daemon.runtime.inbox') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run(
        [sys.executable, "-m", "daemon", "--home", str(tmp_path), "init"],
        check=True,
        capture_output=True,
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"videos": 0' in proc.stdout
