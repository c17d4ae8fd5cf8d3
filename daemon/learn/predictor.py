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


def load_predictor(
    folder: Path, device: str = "cpu", base_cache: Path | None = None, use_unsloth: str = "auto"
) -> Predictor:
    """Rebuild the model saved in `folder` on `device`, in eval mode, through the backend it
    was trained with (unsloth unless `use_unsloth` is 'never'); a GGUF base is read from its
    dequantised copy under `base_cache`, built there if this host has none yet."""
    from daemon.learn.backbone import BaseSpec, backend_named, load_causal_lm

    folder = Path(folder)
    manifest = read_manifest(folder)
    kind = manifest["kind"]
    if kind in RIDGE_HEADS:
        from daemon.learn.embedding import EmbeddingModel
        from daemon.learn.encoders import encoders_from_manifest

        return EmbeddingModel.load(folder, encoders_from_manifest(manifest, device, base_cache))
    if kind == "numeric":
        from daemon.learn.numeric import NumericModel

        return NumericModel.load(folder)
    if kind == "fi_transfer":
        from daemon.learn.transfer import TransferModel

        return TransferModel.load(
            folder, lambda fi: load_predictor(fi, device, base_cache, use_unsloth)
        )
    if kind == "blend":
        from daemon.learn.blend import BlendModel

        return BlendModel.load(
            folder, lambda part: load_predictor(part, device, base_cache, use_unsloth)
        )
    base = BaseSpec(manifest["base_model"], manifest["base_source"], manifest.get("gguf_file"))
    max_length = int(manifest["max_length"])
    cfg = TrainConfig(
        use_unsloth=use_unsloth,
        max_length=max_length,
        load_in_4bit=bool(manifest.get("load_in_4bit", False)),
    )
    backend = backend_named(manifest.get("backend"), use_unsloth)
    lm, tok, _ = load_causal_lm(base, device, cfg, backend, base_cache)
    if kind == "regression":
        from daemon.learn.regression import RegressionModel

        return RegressionModel.load(folder, lm, tok, max_length)
    if kind == "generative":
        from daemon.learn.generative import GenerativeModel

        return GenerativeModel.load(folder, lm, tok, max_length)
    raise PermanentError(f"model folder {folder} has unknown head {kind!r}")
