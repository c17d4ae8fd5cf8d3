"""`lprd eval`: score a model version on a labelled split beside the train-mean baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.errors import LprdError
from daemon.learn import data, registry
from daemon.learn.conformal import coverage, halfwidths, load_calibration
from daemon.learn.metrics import baseline, evaluate
from daemon.learn.predictor import load_predictor
from storage.db import Database


def pick_model(db: Database, version: str | None, profile: str | None) -> Any:
    """The named version, or the promoted one (of `profile`, or of any profile)."""
    if version:
        row = registry.get_version(db, version)
        if row is None:
            raise LprdError(f"no model version {version!r}; `lprd models` lists them")
        return row
    promoted = registry.promoted_versions(db)
    if profile:
        promoted = {p: v for p, v in promoted.items() if p == profile}
    if not promoted:
        raise LprdError("no model promoted yet: import labels and run `lprd train`")
    return registry.get_version(db, next(iter(promoted.values())))


def evaluate_version(
    db: Database,
    row: Any,
    split: str,
    device: str = "cpu",
    level: float = 0.9,
    base_cache: Path | None = None,
) -> dict[str, Any]:
    """Accuracy and Pearson r of `row` on `split`, the train-mean baseline on those clips,
    and the empirical coverage and mean width of the model's `level` intervals there."""
    rows = data.load_examples(db, row.feature_profile, split, row.template_version)
    if not rows:
        raise LprdError(
            f"no labelled '{row.feature_profile}' descriptions (template {row.template_version}) "
            f"in the {split} split; import its labels first"
        )
    train = data.load_examples(db, row.feature_profile, "train", row.template_version)
    predictor = load_predictor(row.path, device, base_cache)
    truth = [e.scores for e in rows]
    predicted = predictor.predict([e.text for e in rows])
    calibration = load_calibration(row.path)
    intervals = None
    if calibration is not None:
        intervals = {"level": level, **coverage(predicted, truth, halfwidths(calibration, level))}
    return {
        "version": row.version,
        "head": row.kind,
        "feature_profile": row.feature_profile,
        "split": split,
        "model": evaluate(predicted, truth),
        "baseline": baseline([e.scores for e in train], truth),
        "intervals": intervals,
    }
