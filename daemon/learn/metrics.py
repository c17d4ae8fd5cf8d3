"""Accuracy as First Impressions reports it: 1 - MAE, averaged over the five traits."""

from __future__ import annotations

import math
from collections.abc import Sequence

from storage.models import TARGETS, TRAITS

Scores = dict[str, float]


def train_mean(targets: Sequence[Scores]) -> Scores:
    """The mean of each target over the training rows: the baseline every model must beat."""
    if not targets:
        raise ValueError("no training rows to take a mean of")
    return {t: sum(s[t] for s in targets) / len(targets) for t in TARGETS}


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation, or None where either side is constant."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sxy / math.sqrt(sxx * syy)


def evaluate(predicted: Sequence[Scores], truth: Sequence[Scores]) -> dict:
    """Mean accuracy over the five traits, plus accuracy and Pearson r per target."""
    if len(predicted) != len(truth) or not truth:
        raise ValueError(f"cannot score {len(predicted)} predictions against {len(truth)} labels")
    per = {}
    for t in TARGETS:
        p = [s[t] for s in predicted]
        y = [s[t] for s in truth]
        mae = sum(abs(a - b) for a, b in zip(p, y, strict=True)) / len(y)
        per[t] = {"accuracy": 1.0 - mae, "pearson": pearson(p, y)}
    mean_acc = sum(per[t]["accuracy"] for t in TRAITS) / len(TRAITS)
    return {"mean_accuracy": mean_acc, "n": len(truth), "per_target": per}


def baseline(train_targets: Sequence[Scores], truth: Sequence[Scores]) -> dict:
    """The train-mean baseline evaluated on the same rows."""
    mean = train_mean(train_targets)
    return evaluate([mean] * len(truth), truth)
