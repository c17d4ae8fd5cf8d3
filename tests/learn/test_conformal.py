"""Split-conformal intervals on synthetic data with a known noise level."""

from __future__ import annotations

import random

import pytest

from daemon.learn import conformal
from storage.models import TARGETS


def noisy_rows(n: int, sigma: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(predictions, truths): truth = prediction + Gaussian noise of known sigma."""
    rng = random.Random(seed)
    predicted, truth = [], []
    for _ in range(n):
        p = {t: rng.uniform(0.3, 0.7) for t in TARGETS}
        predicted.append(p)
        truth.append({t: p[t] + rng.gauss(0.0, sigma) for t in TARGETS})
    return predicted, truth


def test_coverage_on_fresh_rows_matches_the_level() -> None:
    sigma = 0.05
    calibration = conformal.residuals(*noisy_rows(2000, sigma, seed=1))
    widths = conformal.halfwidths(calibration, 0.9)
    # |N(0, sigma)| has its 90 % quantile at 1.645 sigma.
    for t in TARGETS:
        assert widths[t] == pytest.approx(1.645 * sigma, rel=0.08)
    result = conformal.coverage(*noisy_rows(4000, sigma, seed=2), widths)
    assert 0.88 <= result["mean_coverage"] <= 0.92
    assert result["mean_width"] == pytest.approx(2 * 1.645 * sigma, rel=0.08)
    wider = conformal.coverage(
        *noisy_rows(4000, sigma, seed=2), conformal.halfwidths(calibration, 0.95)
    )
    assert wider["mean_coverage"] > result["mean_coverage"]


def test_small_calibration_sets_give_the_whole_range() -> None:
    assert conformal.halfwidth([0.1, 0.2, 0.3], 0.9) == 1.0  # rank 4 of 3 rows
    assert conformal.halfwidth([0.1] * 9 + [0.4], 0.9) == 0.4  # rank ceil(11 * 0.9) = 10
    assert conformal.interval(0.95, 0.1) == [0.85, 1.0]
    assert conformal.interval(0.02, 0.1) == [0.0, 0.12]


def test_calibration_round_trip(tmp_path) -> None:
    assert conformal.load_calibration(tmp_path) is None
    calibration = conformal.residuals(*noisy_rows(50, 0.1, seed=3))
    conformal.save_calibration(tmp_path, calibration, "holdout")
    assert conformal.load_calibration(tmp_path) == calibration
    with pytest.raises(ValueError):
        conformal.residuals([], [])


def _linear_rows(n_groups: int, sigma: float, seed: int):
    """(x, scores, groups): 4 rows per group, scores linear in x plus a group effect
    (the same person in several clips) and row noise; the total noise SD is known."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(0).normal(0, 0.05, (8, len(TARGETS)))
    x = rng.normal(0, 1, (4 * n_groups, 8))
    effect = np.repeat(rng.normal(0, sigma / 2**0.5, (n_groups, len(TARGETS))), 4, axis=0)
    y = 0.5 + x @ weights + effect + rng.normal(0, sigma / 2**0.5, effect.shape)
    scores = [dict(zip(TARGETS, map(float, row), strict=True)) for row in y]
    groups = [f"g{seed}-{i // 4}" for i in range(4 * n_groups)]
    return x, scores, groups


def test_ridge_heads_calibrate_on_grouped_out_of_fold_rows() -> None:
    from daemon.learn.heads.ridge import fit_ridge

    sigma = 0.05
    x, y, groups = _linear_rows(400, sigma, seed=1)
    fit, hold = slice(0, 1360), slice(1360, None)  # the last 60 groups are the holdout
    (coef, intercept), info = fit_ridge(x[fit], y[fit], x[hold], y[hold], groups, folds=5)
    assert info["calibration"] == "grouped 5-fold out-of-fold rows"
    predicted = info["calibration_predictions"]
    assert len(predicted) == len(y)  # every training row, not the 240 holdout rows alone
    widths = conformal.halfwidths(conformal.residuals(predicted, y), 0.9)
    fresh_x, fresh_y, _ = _linear_rows(1000, sigma, seed=2)  # new people
    fresh = [
        dict(zip(TARGETS, map(float, row), strict=True)) for row in fresh_x @ coef.T + intercept
    ]
    result = conformal.coverage(fresh, fresh_y, widths)
    assert 0.88 <= result["mean_coverage"] <= 0.92, result["mean_coverage"]
    holdout_only = fit_ridge(x[fit], y[fit], x[hold], y[hold])[1]
    assert holdout_only["calibration"] == "holdout"
    assert len(holdout_only["calibration_predictions"]) == 240
