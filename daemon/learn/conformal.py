"""Split-conformal prediction intervals per target.

At training time a model scores rows it was not fitted on (the early-stopping holdout, or
the out-of-fold rows of a grouped K-fold); the absolute residuals are kept with the model.
At prediction time the interval at level 1 - a is the prediction plus or minus the
ceil((n + 1)(1 - a))-th smallest residual, which covers a new row with probability at least
1 - a when rows are exchangeable. Intervals are clipped to the score range [0, 1].
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from daemon.learn.metrics import Scores
from storage.models import TARGETS, TRAITS

CALIBRATION_FILE = "calibration.json"


def residuals(predicted: Sequence[Scores], truth: Sequence[Scores]) -> dict[str, list[float]]:
    """Sorted absolute residuals per target."""
    if len(predicted) != len(truth) or not truth:
        raise ValueError(f"cannot calibrate {len(predicted)} predictions on {len(truth)} labels")
    return {
        t: sorted(abs(p[t] - y[t]) for p, y in zip(predicted, truth, strict=True)) for t in TARGETS
    }


def halfwidth(sorted_residuals: Sequence[float], level: float) -> float:
    """The conformal quantile of the residuals for coverage `level` (1.0 when n is too small)."""
    n = len(sorted_residuals)
    rank = math.ceil((n + 1) * level)
    if n == 0 or rank > n:
        return 1.0  # too few calibration rows for this level: the whole score range
    return float(sorted_residuals[rank - 1])


def halfwidths(calibration: dict[str, Sequence[float]], level: float) -> dict[str, float]:
    """Half-widths per target at `level`."""
    return {t: halfwidth(calibration[t], level) for t in TARGETS}


def interval(score: float, width: float) -> list[float]:
    """[lo, hi] around `score`, clipped to [0, 1]."""
    return [round(max(0.0, score - width), 6), round(min(1.0, score + width), 6)]


def intervals(scores: Scores, widths: dict[str, float]) -> dict[str, list[float]]:
    """Intervals for every target of one prediction."""
    return {t: interval(scores[t], widths[t]) for t in TARGETS}


def coverage(
    predicted: Sequence[Scores], truth: Sequence[Scores], widths: dict[str, float]
) -> dict:
    """Empirical coverage and mean width of the intervals on labelled rows."""
    per: dict[str, dict[str, float]] = {}
    for t in TARGETS:
        spans = [interval(p[t], widths[t]) for p in predicted]
        hits = sum(lo <= y[t] <= hi for (lo, hi), y in zip(spans, truth, strict=True))
        per[t] = {
            "coverage": hits / len(truth),
            "mean_width": sum(hi - lo for lo, hi in spans) / len(spans),
        }
    return {
        "per_target": per,
        "mean_coverage": sum(per[t]["coverage"] for t in TRAITS) / len(TRAITS),
        "mean_width": sum(per[t]["mean_width"] for t in TRAITS) / len(TRAITS),
        "n": len(truth),
    }


def save_calibration(folder: Path, calibration: dict[str, list[float]], source: str) -> None:
    """Keep the residuals with the model, so any interval level can be served later."""
    payload = {"source": source, "n": len(calibration[TARGETS[0]]), "residuals": calibration}
    (Path(folder) / CALIBRATION_FILE).write_text(json.dumps(payload))


def load_calibration(folder: Path) -> dict[str, list[float]] | None:
    """The residuals saved with a model, or None for a model trained without them."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())["residuals"]
