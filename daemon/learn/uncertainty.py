"""How sure the figures are: percentile-bootstrap confidence intervals for a model's MAE,
Pearson r and mean accuracy beside the train-mean baseline, and a verdict on whether the
model beats that baseline.

Small studies (30-300 labelled videos) are the normal case, and on them one validation
figure says little. Resampling is by GROUP (a participant, a YouTube id), not by row,
so that the clips of one person move together: they are not independent evidence.

Scores are dicts keyed by target name, in unit space; a truth value may be NaN (a rating
the study does not have for that clip), skipped for that target only. Every interval is
taken over the same resamples for the model and the baseline, so the difference between
them is paired.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from storage.models import TRAITS

Scores = dict[str, float]
Figure = dict[str, float | None]  # {"value": ..., "low": ..., "high": ...}

BEATS = "beats the baseline"
NO_BETTER = "no better than the baseline"
WORSE = "worse than the baseline"
NOT_RATED = "not rated"

RESAMPLES = 2000
LEVEL = 0.95
_CELLS_PER_BATCH = 4_000_000  # resamples x rows held in memory at once
_FLAT = 1e-12  # a side with less spread than this has no correlation (as metrics.pearson)


def default_headline(targets: Sequence[str]) -> tuple[str, ...]:
    """First Impressions' five traits where all are present (the challenge's figure),
    else every target."""
    return TRAITS if set(TRAITS) <= set(targets) else tuple(targets)


def group_index(groups: Sequence[str]) -> np.ndarray:
    """Each row's group as an integer 0..G-1."""
    return np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)[1]


def resample_weights(
    group_of_row: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """How often each row is drawn in each resample (resamples x rows): G groups drawn
    with replacement, a row counted as often as its group is, so a group's rows move
    together."""
    n_groups = int(group_of_row.max()) + 1 if group_of_row.size else 0
    counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=resamples)
    return counts[:, group_of_row].astype(float)


def weighted_mae(weights: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Mean absolute error per weight row (NaN where a row weighs nothing)."""
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ np.abs(errors)) / total


def weighted_pearson(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r per weight row (NaN where a side is flat or nothing is weighed)."""
    total = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x - (weights @ x)[:, None] / total
        dy = y - (weights @ y)[:, None] / total
        sxy = (weights * dx * dy).sum(axis=1)
        sxx = (weights * dx * dx).sum(axis=1)
        syy = (weights * dy * dy).sum(axis=1)
        r = sxy / np.sqrt(sxx * syy)
    r[(sxx <= _FLAT) | (syy <= _FLAT) | ~np.isfinite(r)] = np.nan
    return r


def _columns(rows: Sequence[Scores], names: Sequence[str]) -> np.ndarray:
    """Rows x targets as floats, NaN for None."""
    return np.array(
        [[math.nan if r.get(t) is None else float(r[t]) for t in names] for r in rows],
        dtype=float,
    ).reshape(len(rows), len(names))


def _target_stats(
    weights: np.ndarray, p: np.ndarray, y: np.ndarray, base: np.ndarray
) -> dict[str, np.ndarray]:
    """Model MAE, baseline MAE, their difference and Pearson r of one target, per weight
    row; `p`, `y` and `base` (the baseline's value per row) hold only the rows rated for
    the target."""
    mae = weighted_mae(weights, p - y)
    base_mae = weighted_mae(weights, base - y)
    return {"mae": mae, "baseline_mae": base_mae, "difference": mae - base_mae,
            "pearson": weighted_pearson(weights, p, y)}  # fmt: skip


def _all_stats(
    weights: np.ndarray, p: np.ndarray, y: np.ndarray, base: np.ndarray, names: Sequence[str]
) -> dict[str, dict[str, np.ndarray]]:
    """`_target_stats` of every target."""
    stats = {}
    for j, t in enumerate(names):
        rated = ~np.isnan(y[:, j])
        stats[t] = _target_stats(weights[:, rated], p[rated, j], y[rated, j], base[rated, j])
    return stats


def _nanmean(columns: list[np.ndarray]) -> np.ndarray:
    """Element-wise mean of the columns, skipping NaN (NaN where every one is NaN)."""
    stacked = np.array(columns, dtype=float).reshape(len(columns), -1)
    count = (~np.isnan(stacked)).sum(axis=0)
    total = np.nansum(stacked, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _headline_stats(
    stats: dict[str, dict[str, np.ndarray]], headline: Sequence[str]
) -> dict[str, np.ndarray]:
    """Mean accuracy (1 - MAE over the headline targets that have a value), the
    baseline's, and model minus baseline, per weight row."""
    model = _nanmean([1.0 - stats[t]["mae"] for t in headline])
    base = _nanmean([1.0 - stats[t]["baseline_mae"] for t in headline])
    return {"mean_accuracy": model, "baseline_mean_accuracy": base, "difference": model - base}


def figure(point: float, draws: np.ndarray, level: float) -> Figure:
    """A point estimate and its percentile interval (None where undefined: no point
    estimate, or fewer than half the resamples give a value)."""
    value = None if point is None or math.isnan(point) else float(point)
    defined = draws[~np.isnan(draws)]
    if value is None or defined.size < max(1, draws.size // 2):
        return {"value": value, "low": None, "high": None}
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return {"value": value, "low": float(low), "high": float(high)}


def verdict(difference: Figure, lower_is_better: bool = True) -> str:
    """Beats the baseline only when the whole interval of (model - baseline) lies on the
    better side of 0; worse when it lies wholly on the other side; else no better."""
    low, high = difference["low"], difference["high"]
    if low is None or high is None:
        return NO_BETTER
    better, worse = (high < 0, low > 0) if lower_is_better else (low > 0, high < 0)
    return BEATS if better else WORSE if worse else NO_BETTER


def _draws(
    p: np.ndarray,
    y: np.ndarray,
    base: np.ndarray,
    group_of_row: np.ndarray,
    names: Sequence[str],
    headline: Sequence[str],
    resamples: int,
    seed: int,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Every statistic over `resamples` grouped resamples, in batches that bound memory."""
    rng = np.random.default_rng(seed)
    batch = max(1, _CELLS_PER_BATCH // max(1, len(y)))
    parts: list[tuple[dict, dict]] = []
    for start in range(0, resamples, batch):
        weights = resample_weights(group_of_row, min(batch, resamples - start), rng)
        stats = _all_stats(weights, p, y, base, names)
        parts.append((stats, _headline_stats(stats, headline)))
    per = {t: {k: np.concatenate([s[t][k] for s, _ in parts]) for k in parts[0][0][t]}
           for t in names}  # fmt: skip
    head = {k: np.concatenate([h[k] for _, h in parts]) for k in parts[0][1]}
    return per, head


def _target_result(
    point: dict[str, np.ndarray], draws: dict[str, np.ndarray], n: int, groups: int, level: float
) -> dict[str, Any]:
    """One target's figures and verdict."""
    figures = {k: figure(float(point[k][0]), draws[k], level) for k in point}
    if groups < 2:  # one person: resampling cannot tell anything
        figures = {k: {**f, "low": None, "high": None} for k, f in figures.items()}
    result = {"n": n, "groups": groups, **figures}
    result["verdict"] = verdict(figures["difference"]) if n else NOT_RATED
    return result


def bootstrap(
    predicted: Sequence[Scores],
    truth: Sequence[Scores],
    baseline: Scores | Sequence[Scores],
    groups: Sequence[str],
    headline: Sequence[str] | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Per target: rated rows `n` (and their `groups`), `mae`, `baseline_mae`,
    `difference` (model - baseline MAE) and `pearson`, each a {"value", "low", "high"}
    figure with a `level` percentile-bootstrap interval over `resamples` resamples of the
    groups; a `verdict`. The same for the mean accuracy over the `headline` targets, an
    overall `verdict` (the headline's) and `beats` (the targets that beat the baseline).

    `baseline` holds the train mean of each target, or one such mean per row (a
    cross-validated figure's baseline is the mean of the other folds, which differs by
    fold); `groups` one group id per row.
    Everything is in unit space; `on_scale` converts the MAE figures for display."""
    if not (len(predicted) == len(truth) == len(groups)) or not truth:
        raise ValueError(
            f"cannot bootstrap {len(predicted)} predictions, {len(truth)} labels "
            f"and {len(groups)} group ids"
        )
    names = tuple(truth[0])
    headline = tuple(t for t in headline if t in names) if headline else default_headline(names)
    p, y = _columns(predicted, names), _columns(truth, names)
    per_row = baseline if isinstance(baseline, Sequence) else [baseline] * len(truth)
    if len(per_row) != len(truth):
        raise ValueError(f"{len(per_row)} baseline rows for {len(truth)} labels")
    base = _columns(per_row, names)
    group_of_row = group_index(groups)
    point = _all_stats(np.ones((1, len(y))), p, y, base, names)
    per_draws, head_draws = _draws(p, y, base, group_of_row, names, headline, resamples, seed)
    per = {}
    for j, t in enumerate(names):
        rated = ~np.isnan(y[:, j])
        n_groups = len(set(group_of_row[rated].tolist()))
        per[t] = _target_result(point[t], per_draws[t], int(rated.sum()), n_groups, level)
    head_point = _headline_stats(point, headline)
    head = {k: figure(float(head_point[k][0]), head_draws[k], level) for k in head_point}
    head["verdict"] = verdict(head["difference"], lower_is_better=False)
    return {
        "level": level, "resamples": resamples, "seed": seed, "n": len(truth),
        "groups": int(group_of_row.max()) + 1, "per_target": per,
        "headline": {"targets": list(headline), **head},
        "verdict": head["verdict"], "beats": [t for t in names if per[t]["verdict"] == BEATS],
    }  # fmt: skip


def scale_figure(fig: Figure, span: float) -> Figure:
    """A unit-space MAE figure on a scale `span` wide."""
    return {k: None if v is None else v * span for k, v in fig.items()}


def on_scale(result: dict[str, Any], spans: dict[str, float]) -> dict[str, Any]:
    """`bootstrap`'s result with each target's MAE figures (model, baseline, difference)
    on the target's declared scale (`spans`: `Target.span` by name; a target without
    one stays in unit space). Correlations, counts and the headline are unchanged."""
    per = {}
    for t, fig in result["per_target"].items():
        span = spans.get(t, 1.0)
        per[t] = {**fig, **{k: scale_figure(fig[k], span)
                            for k in ("mae", "baseline_mae", "difference")}}  # fmt: skip
    return {**result, "per_target": per}
