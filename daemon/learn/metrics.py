"""Accuracy as First Impressions reports it: 1 - MAE, averaged over the headline targets
(the five traits for the built-in set, every target of a study's set).

Scores are dicts keyed by target name, in unit space. A truth value may be NaN: a rating
the study does not have for that clip, skipped for that target only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from storage.models import TARGETS, TRAITS

Scores = dict[str, float]


def present(value: float | None) -> bool:
    """A rating that exists (not None, not NaN)."""
    return value is not None and not math.isnan(value)


def target_names(rows: Sequence[Scores]) -> tuple[str, ...]:
    """The targets of these rows, in their order (the built-in six where rows agree)."""
    if not rows:
        return TARGETS
    return tuple(rows[0])


def headline_of(targets: Sequence[str]) -> tuple[str, ...]:
    """The targets mean accuracy averages: First Impressions' five traits where all are
    present (the challenge's figure), else every target."""
    return TRAITS if set(TRAITS) <= set(targets) else tuple(targets)


def train_mean(targets: Sequence[Scores]) -> Scores:
    """The mean of each target over the training rows that have it: the baseline every
    model must beat (0.5 for a target no row has)."""
    if not targets:
        raise ValueError("no training rows to take a mean of")
    means = {}
    for t in target_names(targets):
        values = [s[t] for s in targets if present(s.get(t))]
        means[t] = sum(values) / len(values) if values else 0.5
    return means


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation, or None where either side is constant."""
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sxy / math.sqrt(sxx * syy)


def evaluate(
    predicted: Sequence[Scores], truth: Sequence[Scores], headline: Sequence[str] | None = None
) -> dict:
    """Mean accuracy over the headline targets, plus accuracy, Pearson r and the number of
    rated rows per target (rows whose truth is NaN are skipped for that target)."""
    if len(predicted) != len(truth) or not truth:
        raise ValueError(f"cannot score {len(predicted)} predictions against {len(truth)} labels")
    targets = target_names(truth)
    headline = tuple(headline) if headline else headline_of(targets)
    per = {}
    for t in targets:
        pairs = [(p[t], y[t]) for p, y in zip(predicted, truth, strict=True) if present(y[t])]
        if not pairs:
            per[t] = {"accuracy": None, "pearson": None, "n": 0}
            continue
        mae = sum(abs(a - b) for a, b in pairs) / len(pairs)
        p, y = zip(*pairs, strict=True)
        per[t] = {"accuracy": 1.0 - mae, "pearson": pearson(p, y), "n": len(pairs)}
    rated = [per[t]["accuracy"] for t in headline if per[t]["accuracy"] is not None]
    mean_acc = sum(rated) / len(rated) if rated else float("nan")
    return {"mean_accuracy": mean_acc, "n": len(truth), "per_target": per,
            "headline": list(headline)}  # fmt: skip


def baseline(
    train_targets: Sequence[Scores], truth: Sequence[Scores], headline: Sequence[str] | None = None
) -> dict:
    """The train-mean baseline evaluated on the same rows."""
    mean = train_mean(train_targets)
    return evaluate([mean] * len(truth), truth, headline)
