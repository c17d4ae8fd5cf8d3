"""`import daemon`, the stage registry, the watcher and `lprd status` never import torch."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "pyannote", "funasr", "unsloth", "transformers", "mediapipe", "cv2")


def test_status_path_stays_light(tmp_path) -> None:  # noqa: ANN001
    code = (
        "import sys\n"
        "import daemon, daemon.cli, daemon.stages, daemon.watcher, daemon.status\n"
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
