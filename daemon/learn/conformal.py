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

from daemon.learn.metrics import Scores, headline_of, present, target_names

CALIBRATION_FILE = "calibration.json"


def residuals(predicted: Sequence[Scores], truth: Sequence[Scores]) -> dict[str, list[float]]:
    """Sorted absolute residuals per target (of the rows that rate it)."""
    if len(predicted) != len(truth) or not truth:
        raise ValueError(f"cannot calibrate {len(predicted)} predictions on {len(truth)} labels")
    return {
        t: sorted(abs(p[t] - y[t]) for p, y in zip(predicted, truth, strict=True) if present(y[t]))
        for t in target_names(truth)
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
    return {t: halfwidth(values, level) for t, values in calibration.items()}


def interval(score: float, width: float) -> list[float]:
    """[lo, hi] around `score`, clipped to [0, 1]."""
    return [round(max(0.0, score - width), 6), round(min(1.0, score + width), 6)]


def intervals(scores: Scores, widths: dict[str, float]) -> dict[str, list[float]]:
    """Intervals for every target of one prediction."""
    return {t: interval(scores[t], widths[t]) for t in widths}


def coverage(
    predicted: Sequence[Scores], truth: Sequence[Scores], widths: dict[str, float]
) -> dict:
    """Empirical coverage and mean width of the intervals on labelled rows (per target,
    the rows that rate it; means over the headline targets)."""
    per: dict[str, dict[str, float]] = {}
    names = target_names(truth)
    for t in names:
        pairs = [(interval(p[t], widths[t]), y[t])
                 for p, y in zip(predicted, truth, strict=True) if present(y[t])]  # fmt: skip
        hits = sum(lo <= y <= hi for (lo, hi), y in pairs)
        per[t] = {
            "coverage": hits / len(pairs) if pairs else float("nan"),
            "mean_width": sum(hi - lo for (lo, hi), _ in pairs) / len(pairs) if pairs else 1.0,
        }
    head = headline_of(names)
    return {
        "per_target": per,
        "mean_coverage": sum(per[t]["coverage"] for t in head) / len(head),
        "mean_width": sum(per[t]["mean_width"] for t in head) / len(head),
        "n": len(truth),
    }


def save_calibration(folder: Path, calibration: dict[str, list[float]], source: str) -> None:
    """Keep the residuals with the model, so any interval level can be served later."""
    n = max((len(v) for v in calibration.values()), default=0)
    payload = {"source": source, "n": n, "residuals": calibration}
    (Path(folder) / CALIBRATION_FILE).write_text(json.dumps(payload))


def load_calibration(folder: Path) -> dict[str, list[float]] | None:
    """The residuals saved with a model, or None for a model trained without them."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())["residuals"]
