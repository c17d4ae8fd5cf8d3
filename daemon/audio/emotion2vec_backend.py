"""The speech-emotion backend: emotion2vec (iic/emotion2vec_plus_large) through funasr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import PermanentError


def load_emotion2vec(source: str | Path, device: str) -> Any:
    """A funasr AutoModel for emotion2vec."""
    from funasr import AutoModel

    try:
        return AutoModel(model=str(source), device=device, disable_update=True)
    except Exception as exc:  # noqa: BLE001 - any load failure means the weights are unusable
        raise PermanentError(
            f"cannot load emotion2vec from {source} ({type(exc).__name__}: {exc}); set "
            "audio.emotion_backend = 'none'"
        ) from exc


def label_name(label: str) -> str:
    """'生气/angry' -> 'angry'; '<unk>' -> 'unknown'."""
    name = str(label).split("/")[-1].strip().lower()
    return "unknown" if name in ("<unk>", "unk", "") else name


def convert(result: list[dict[str, Any]]) -> dict[str, float]:
    """funasr's [{"labels": [...], "scores": [...]}] as {emotion: probability}, summing to 1."""
    if not result:
        return {}
    item = result[0]
    dist: dict[str, float] = {}
    for label, score in zip(item.get("labels", []), item.get("scores", []), strict=False):
        name = label_name(label)
        dist[name] = dist.get(name, 0.0) + float(score)
    norm = sum(dist.values())
    return {k: round(v / norm, 4) for k, v in dist.items()} if norm > 0 else {}


def classify(model: Any, audio: np.ndarray) -> dict[str, float]:
    """The emotion distribution of one stretch of 16 kHz speech."""
    result = model.generate(audio, granularity="utterance", extract_embedding=False)
    return convert(result)
