"""Scores a model saved beside itself, by clip name: of the training rows it was not
fitted on (`UNSEEN`: what a blend weighs its parts on) and of its report rows (`REPORT`:
what a blend and a comparison of sampled models are scored on)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from daemon.learn.metrics import Scores

UNSEEN = "unseen_predictions.json"  # {clip: scores} of training rows the model never fitted
REPORT = "report_predictions.json"  # {clip: scores} of the report (validation) rows


def save_predictions(folder: Path, name: str, clips: Sequence[str], scores: Sequence[Scores]):
    """Write {clip: scores} beside a saved model."""
    (folder / name).write_text(json.dumps(dict(zip(clips, scores, strict=True))))


def load_predictions(folder: Path, name: str) -> dict[str, Scores]:
    """{clip: scores} saved beside a model, or {} for models saved without them."""
    path = Path(folder) / name
    return json.loads(path.read_text()) if path.exists() else {}
