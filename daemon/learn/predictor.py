"""Load a saved model version of any head and predict scores from descriptions.

Every version folder holds a manifest.json naming its head, base model and prompt limits,
so a model is rebuilt exactly as it was trained, whatever the current config says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from daemon.errors import PermanentError
from daemon.learn.metrics import Scores

MANIFEST = "manifest.json"


class Predictor(Protocol):
    """Anything that turns descriptions into scores."""

    def predict(self, texts: Sequence[str]) -> list[Scores]: ...


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Record how to rebuild the model saved in `folder`."""
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a saved model, or a PermanentError saying what is missing."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise PermanentError(f"model folder {folder} has no {MANIFEST}; retrain with `lprd train`")
    return json.loads(path.read_text())


def load_predictor(
    folder: Path, device: str = "cpu", base_cache: Path | None = None, use_unsloth: str = "auto"
) -> Predictor:
    """Rebuild the model saved in `folder` on `device`, in eval mode, through the backend it
    was trained with (unsloth unless `use_unsloth` is 'never'); a GGUF base is read from its
    dequantised copy under `base_cache`, built there if this host has none yet."""
    from daemon.learn.heads import HEADS

    folder = Path(folder)
    manifest = read_manifest(folder)
    head = HEADS.get(manifest["kind"])
    if head is None:
        raise PermanentError(f"model folder {folder} has unknown head {manifest['kind']!r}")
    from daemon.learn.heads.base import Saved

    def load_part(part: Path) -> Predictor:
        return load_predictor(part, device, base_cache, use_unsloth)

    return head.load(Saved(folder, manifest, device, base_cache, use_unsloth, load_part))
