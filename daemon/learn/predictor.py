"""Load a saved model version of any head and predict scores from descriptions.

Every version folder holds a manifest.json naming its head, base model and prompt limits,
so a model is rebuilt exactly as it was trained, whatever the current config says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from daemon.config import TrainConfig
from daemon.errors import PermanentError
from daemon.learn.embedding import RIDGE_HEADS
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


def load_predictor(folder: Path, device: str = "cpu") -> Predictor:
    """Rebuild the model saved in `folder` on `device`, in eval mode."""
    from daemon.learn.backbone import BaseSpec, load_causal_lm

    folder = Path(folder)
    manifest = read_manifest(folder)
    kind = manifest["kind"]
    if kind in RIDGE_HEADS:
        from daemon.learn.embedding import EmbeddingModel
        from daemon.learn.encoders import encoders_from_manifest

        return EmbeddingModel.load(folder, encoders_from_manifest(manifest, device))
    if kind == "numeric":
        from daemon.learn.numeric import NumericModel

        return NumericModel.load(folder)
    base = BaseSpec(manifest["base_model"], manifest["base_source"], manifest.get("gguf_file"))
    lm, tok = load_causal_lm(base, device, TrainConfig(use_unsloth="never"))
    max_length = int(manifest["max_length"])
    if kind == "regression":
        from daemon.learn.regression import RegressionModel

        return RegressionModel.load(folder, lm, tok, max_length)
    if kind == "generative":
        from daemon.learn.generative import GenerativeModel

        return GenerativeModel.load(folder, lm, tok, max_length)
    raise PermanentError(f"model folder {folder} has unknown head {kind!r}")
