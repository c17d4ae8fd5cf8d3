"""What lprd keeps private: files only its user can read, no secret in copies, and
libraries that neither phone home nor reach a model hub unless downloads are allowed.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

PRIVATE_UMASK = 0o077
SECRET_FIELDS = ("hf_token",)

# Opt-outs every library we load honours; set before any of them is imported.
NO_TELEMETRY = {
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "DISABLE_TELEMETRY": "1",
    "ORT_DISABLE_TELEMETRY": "1",  # onnxruntime (also switched off through its API)
    "WANDB_DISABLED": "true",
    "WANDB_MODE": "disabled",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TQDM_DISABLE": "1",
    "UNSLOTH_DISABLE_STATISTICS": "1",  # else it fetches a README from the hub at load
}
# Hubs answer from their local caches only.
HUBS_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "MODELSCOPE_OFFLINE": "1",
}


def private_umask() -> None:
    """Files lprd creates from now on are 0600, folders 0700 (also in child processes)."""
    os.umask(PRIVATE_UMASK)


def quiet_libraries(allow_downloads: bool, env: MutableMapping[str, str] | None = None) -> None:
    """Switch off library telemetry; keep the hubs offline unless downloads are allowed.

    Values the user set explicitly are kept, except that telemetry is always off.
    """
    env = os.environ if env is None else env
    env.update(NO_TELEMETRY)
    if not allow_downloads:
        for key, value in HUBS_OFFLINE.items():
            env.setdefault(key, value)


def disable_onnxruntime_telemetry() -> None:
    """onnxruntime's own switch for its event telemetry (a no-op where it has none)."""
    import onnxruntime

    onnxruntime.disable_telemetry_events()


def restrict(path: Path, mode: int) -> None:
    """chmod `path` to `mode` when it exists and is ours; never follows a symlink."""
    try:
        if not path.is_symlink() and path.exists() and path.stat().st_uid == os.geteuid():
            path.chmod(mode)
    except OSError:
        pass  # a read-only mount: the umask still covers what lprd creates


def redacted(data: Any) -> Any:
    """A copy of a config dump with every secret left out (None), for files and logs."""
    if isinstance(data, dict):
        return {
            key: (None if key in SECRET_FIELDS else redacted(value)) for key, value in data.items()
        }
    if isinstance(data, list):
        return [redacted(item) for item in data]
    return data
