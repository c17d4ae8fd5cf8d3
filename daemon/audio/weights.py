"""Where the seed models' weights are, if they are on this machine at all.

lprd never downloads at run time: a model is available when its folder is configured or it
already sits in the local Hugging Face or ModelScope cache.
"""

from __future__ import annotations

import os
from pathlib import Path

# Hub ids that name the same weights on the two hubs funasr models are published on.
HF_MIRRORS = {
    "iic/SenseVoiceSmall": "FunAudioLLM/SenseVoiceSmall",
    "iic/emotion2vec_plus_large": "emotion2vec/emotion2vec_plus_large",
    "fsmn-vad": "funasr/fsmn-vad",
}
MODELSCOPE_ALIASES = {"fsmn-vad": "iic/speech_fsmn_vad_zh-cn-16k-common-pytorch"}


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def modelscope_cache() -> Path:
    """The ModelScope cache folder."""
    root = os.environ.get("MODELSCOPE_CACHE") or "~/.cache/modelscope/hub"
    return Path(root).expanduser()


def hf_snapshot(repo_id: str, marker: str) -> Path | None:
    """The newest cached snapshot of `repo_id` holding `marker`, if any."""
    snapshots = hf_hub_cache() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    if not snapshots.is_dir():
        return None
    found = [p for p in snapshots.iterdir() if (p / marker).exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def modelscope_dir(model_id: str, marker: str) -> Path | None:
    """The ModelScope cache folder of `model_id` holding `marker`, if any."""
    model_id = MODELSCOPE_ALIASES.get(model_id, model_id)
    for base in (modelscope_cache() / "models", modelscope_cache()):
        path = base / model_id
        if (path / marker).exists():
            return path
    return None


def local_dir(spec: str, marker: str) -> Path | None:
    """A folder holding `marker` for a model spec: an explicit folder, else a cached copy."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path if (path / marker).exists() else None
    if spec.startswith(("/", ".", "~")):
        return None
    return (
        modelscope_dir(spec, marker)
        or hf_snapshot(spec, marker)
        or hf_snapshot(HF_MIRRORS.get(spec, spec), marker)
    )
