"""Bootstrap intervals beside the train-mean baseline (daemon.learn.uncertainty) and the
tables that show them and a study's scores on its declared scales (daemon.learn.report)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rich.console import Console

from daemon.learn import uncertainty as u
from daemon.learn.metrics import evaluate
from daemon.learn.report import (
    baseline_statement,
    bootstrap_table,
    eval_table,
    few_groups_statement,
    headline_line,
    heads_statement,
    scores_table,
)
from daemon.targets import Target, TargetSet
from storage.models import TARGETS

STUDY = TargetSet(
    "lab",
    "a lab's own ratings",
    (
        Target("hireability", "Would you hire them?", 1.0, 7.0, "would not hire", "would hire"),
        Target("warmth", "How warm do they seem?", 0.0, 100.0, "cold", "warm"),
    ),
)
FIGURES = ("mae", "baseline_mae", "difference", "pearson")


def rows(
    n: int, signal: float = 0.7, noise: float = 0.08, names=TARGETS, seed: int = 0
) -> tuple[list[dict], list[dict], dict, list[str]]:
    """(predicted, truth, train means, group ids): a model that follows the truth by
    `signal`, three clips per group."""
    rng = np.random.default_rng(seed)
    truth = [{t: float(rng.uniform(0.2, 0.8)) for t in names} for _ in range(n)]
    predicted = [
        {t: 0.5 + signal * (y[t] - 0.5) + float(rng.normal(0, noise)) for t in names} for y in truth
    ]
    return predicted, truth, dict.fromkeys(names, 0.5), [f"g{i // 3}" for i in range(n)]


def width(fig: dict) -> float:
    return fig["high"] - fig["low"]


def render(*tables) -> str:
    console = Console(width=220, record=True, color_system=None)
    for table in tables:
        console.print(table)
    return console.export_text()


def test_points_are_metrics_figures_and_lie_inside_their_intervals() -> None:
    predicted, truth, means, groups = rows(120)
    boot = u.bootstrap(predicted, truth, means, groups, resamples=500)
    scored = evaluate(predicted, truth)
    for t in TARGETS:
        fig = boot["per_target"][t]
        assert fig["n"] == 120 and fig["groups"] == 40
        assert fig["mae"]["value"] == pytest.approx(1 - scored["per_target"][t]["accuracy"])
        assert fig["pearson"]["value"] == pytest.approx(scored["per_target"][t]["pearson"])
        for name in FIGURES:
            assert fig[name]["low"] <= fig[name]["value"] <= fig[name]["high"], (t, name)
    head = boot["headline"]
    assert head["targets"] == list(TARGETS[:5])
    assert head["mean_accuracy"]["value"] == pytest.approx(scored["mean_accuracy"])
    for name in ("mean_accuracy", "baseline_mean_accuracy", "difference"):
        assert head[name]["low"] <= head[name]["value"] <= head[name]["high"]
    assert boot["n"] == 120 and boot["groups"] == 40 and boot["resamples"] == 500


def test_intervals_shrink_with_more_rows() -> None:
    """Ten times the rows: about a third of the width (averaged over the targets, as one
    target's errors can happen to be alike on a small sample)."""
    small = u.bootstrap(*rows(30, seed=1), resamples=1000)
    large = u.bootstrap(*rows(300, seed=1), resamples=1000)
    for name in FIGURES:
        narrow = np.mean([width(large["per_target"][t][name]) for t in TARGETS])
        wide = np.mean([width(small["per_target"][t][name]) for t in TARGETS])
        assert narrow < 0.6 * wide, name
    assert width(large["headline"]["difference"]) < 0.6 * width(small["headline"]["difference"])


def test_same_seed_same_intervals() -> None:
    data = rows(60)
    assert u.bootstrap(*data, seed=3) == u.bootstrap(*data, seed=3)
    assert u.bootstrap(*data, seed=3) != u.bootstrap(*data, seed=4)


def test_a_groups_rows_are_drawn_together() -> None:
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    weights = u.resample_weights(groups, 200, np.random.default_rng(0))
    assert weights.shape == (200, 10)
    for g in range(4):
        members = weights[:, groups == g]
        assert (members == members[:, :1]).all()
    assert (weights[:, [0, 3, 5, 6]].sum(axis=1) == 4).all()  # 4 groups drawn each time


def test_grouped_resampling_widens_intervals_when_clips_of_a_person_agree() -> None:
    """Ten people with twenty clips each; the model is off by the same amount on every
    clip of a person. The evidence is ten people, not 200 clips."""
    rng = np.random.default_rng(5)
    offsets = rng.uniform(0.0, 0.3, size=10)
    truth = [{"warmth": 0.5} for _ in range(200)]
    predicted = [{"warmth": 0.5 + offsets[i // 20]} for i in range(200)]
    people = [f"p{i // 20}" for i in range(200)]
    clips = [f"c{i}" for i in range(200)]
    by_person = u.bootstrap(predicted, truth, {"warmth": 0.4}, people)
    by_clip = u.bootstrap(predicted, truth, {"warmth": 0.4}, clips)
    grouped = by_person["per_target"]["warmth"]["mae"]
    flat = by_clip["per_target"]["warmth"]["mae"]
    assert grouped["value"] == flat["value"]
    assert width(grouped) > 3 * width(flat)
    assert by_person["groups"] == 10 and by_clip["groups"] == 200


def test_a_model_equal_to_the_baseline_is_no_better() -> None:
    _, truth, means, groups = rows(80)
    boot = u.bootstrap([dict(means) for _ in truth], truth, means, groups)
    for t in TARGETS:
        fig = boot["per_target"][t]
        assert fig["difference"]["value"] == 0 and fig["verdict"] == u.NO_BETTER
        assert fig["pearson"] == {"value": None, "low": None, "high": None}
    assert boot["verdict"] == u.NO_BETTER and boot["beats"] == []
    assert baseline_statement(boot) == (
        "No target is predicted better than the train mean on these 80 videos; "
        "the scores are not informative yet."
    )
    assert heads_statement({"regression": boot, "embedding": boot}).startswith(
        "No head predicts any target better than the train mean on these 80 videos"
    )


def test_a_clearly_better_model_on_200_rows_beats_the_baseline() -> None:
    boot = u.bootstrap(*rows(200, signal=0.9, noise=0.03))
    for t in TARGETS:
        fig = boot["per_target"][t]
        assert fig["verdict"] == u.BEATS and fig["difference"]["high"] < 0
        assert fig["pearson"]["low"] > 0.5
    assert boot["verdict"] == u.BEATS and boot["headline"]["difference"]["low"] > 0
    assert boot["beats"] == list(TARGETS)
    assert baseline_statement(boot) is None
    assert heads_statement({"a": boot, "b": u.bootstrap(*rows(200, signal=0.0))}) is None


def test_a_model_that_reads_the_scale_backwards_is_worse() -> None:
    boot = u.bootstrap(*rows(200, signal=-0.9, noise=0.03))
    assert all(boot["per_target"][t]["verdict"] == u.WORSE for t in TARGETS)
    assert boot["verdict"] == u.WORSE


def test_missing_ratings_are_skipped_per_target() -> None:
    names = ("hireability", "warmth", "competence")
    predicted, truth, means, groups = rows(90, names=names, seed=2)
    for i, y in enumerate(truth):
        if i % 3 == 0:
            y["warmth"] = math.nan
        y["competence"] = math.nan
    boot = u.bootstrap(predicted, truth, means, groups, resamples=300)
    per = boot["per_target"]
    assert per["hireability"]["n"] == 90 and per["warmth"]["n"] == 60
    rated = [(a, b) for a, b in zip(predicted, truth, strict=True) if not math.isnan(b["warmth"])]
    mae = sum(abs(a["warmth"] - b["warmth"]) for a, b in rated) / len(rated)
    assert per["warmth"]["mae"]["value"] == pytest.approx(mae)
    assert per["competence"]["n"] == 0 and per["competence"]["verdict"] == u.NOT_RATED
    assert per["competence"]["mae"] == {"value": None, "low": None, "high": None}
    assert boot["headline"]["targets"] == list(names)
    head = boot["headline"]["mean_accuracy"]["value"]
    assert head == pytest.approx(1 - (per["hireability"]["mae"]["value"] + mae) / 2)


def test_one_group_gives_no_interval_and_no_claim() -> None:
    predicted, truth, means, _ = rows(12, signal=1.0, noise=0.0)
    boot = u.bootstrap(predicted, truth, means, ["one person"] * 12)
    fig = boot["per_target"]["openness"]
    assert fig["mae"]["value"] == pytest.approx(0.0) and fig["mae"]["low"] is None
    assert fig["verdict"] == u.NO_BETTER


def test_a_cross_validated_baseline_is_each_rows_own_fold_mean() -> None:
    predicted, truth, means, groups = rows(90, seed=3)
    per_row = [{t: (0.45 if i < 45 else 0.55) for t in TARGETS} for i in range(90)]
    boot = u.bootstrap(predicted, truth, per_row, groups, resamples=200)
    base_mae = (
        sum(abs(b["openness"] - y["openness"]) for b, y in zip(per_row, truth, strict=True)) / 90
    )
    assert boot["per_target"]["openness"]["baseline_mae"]["value"] == pytest.approx(base_mae)
    one = u.bootstrap(predicted, truth, means, groups, resamples=200)
    assert one["per_target"]["openness"]["baseline_mae"]["value"] != pytest.approx(base_mae)
    with pytest.raises(ValueError, match="baseline rows"):
        u.bootstrap(predicted, truth, per_row[:-1], groups)


def test_figures_on_few_people_are_called_rough() -> None:
    few = u.bootstrap(*rows(24), resamples=100)  # 3 clips a person: 8 people
    assert few["groups"] == 8
    assert few_groups_statement(few) == (
        "Only 8 people (or independent groups) among these 24 videos: the intervals come "
        "from resampling so few that they are rough. Rate videos of at least 10 different "
        "people before trusting a verdict."
    )
    assert few_groups_statement(u.bootstrap(*rows(30), resamples=100)) is None


def test_mismatched_lengths_are_refused() -> None:
    predicted, truth, means, groups = rows(10)
    with pytest.raises(ValueError, match="group ids"):
        u.bootstrap(predicted, truth, means, groups[:-1])


def test_mae_figures_on_the_declared_scale() -> None:
    predicted, truth, means, groups = rows(60, names=STUDY.names)
    boot = u.bootstrap(predicted, truth, means, groups, resamples=200)
    shown = u.on_scale(boot, {t.name: t.span for t in STUDY.targets})
    for t in STUDY.targets:
        for name in ("mae", "baseline_mae", "difference"):
            for end in ("value", "low", "high"):
                unit = boot["per_target"][t.name][name][end]
                assert shown["per_target"][t.name][name][end] == pytest.approx(unit * t.span)
        assert shown["per_target"][t.name]["pearson"] == boot["per_target"][t.name]["pearson"]
    assert shown["headline"] == boot["headline"]


def test_bootstrap_table_names_a_studys_targets_on_their_scales() -> None:
    predicted, truth, means, groups = rows(60, names=STUDY.names)
    boot = u.bootstrap(predicted, truth, means, groups, resamples=200)
    text = render(bootstrap_table(boot, STUDY, title="v1 on validation"))
    warmth = boot["per_target"]["warmth"]
    hire = boot["per_target"]["hireability"]
    assert "Hireability" in text and "Warmth" in text
    assert "95% bootstrap intervals (200 resamples of 20 groups, 60 clips)" in text
    assert f"{warmth['mae']['value'] * 100:.1f} [{warmth['mae']['low'] * 100:.1f}, " in text
    assert f"{hire['mae']['value'] * 6:.2f} [{hire['mae']['low'] * 6:.2f}, " in text
    assert f"{warmth['difference']['value'] * 100:+.1f} [" in text
    assert f"{warmth['pearson']['value']:+.2f} [" in text
    assert warmth["verdict"] in text
    line = headline_line(boot, STUDY)
    assert line.startswith("mean accuracy (all targets): ")
    assert line.endswith(boot["verdict"])


def test_bootstrap_table_of_the_builtin_set() -> None:
    boot = u.bootstrap(*rows(60), resamples=200)
    text = render(bootstrap_table(boot))
    assert "Emotional stability" in text and "Interview" in text
    mae = boot["per_target"]["openness"]["mae"]
    assert f"{mae['value']:.3f} [{mae['low']:.3f}, {mae['high']:.3f}]" in text
    assert headline_line(boot).startswith("mean accuracy (5 traits): ")


def test_scores_table_of_a_study_set_on_its_declared_scales() -> None:
    table = scores_table(
        {"hireability": 5.5, "warmth": 72.3},
        intervals={"hireability": [4.0, 6.5], "warmth": [60.0, 85.0]},
        level=0.9,
        target_set=STUDY,
    )
    text = render(table)
    assert "target" in text and "90% interval" in text
    hire = next(line for line in text.splitlines() if "Hireability" in line)
    warmth = next(line for line in text.splitlines() if "Warmth" in line)
    assert "5.5" in hire and "4.0-6.5" in hire and "████████··" in hire
    assert "high = would hire; low = would not hire" in hire
    assert "72.3" in warmth and "60.0-85.0" in warmth and "███████···" in warmth
    assert "high = warm; low = cold" in warmth


def test_scores_table_of_the_builtin_set_is_unchanged() -> None:
    text = render(scores_table(dict.fromkeys(TARGETS, 0.5), intervals=None))
    assert "trait" in text and "Emotional stability" in text
    assert "high = calm (dataset column 'neuroticism')" in text
    line = next(line for line in text.splitlines() if "Openness" in line)
    assert "0.50" in line and "█████·····" in line and "high = curious, imaginative" in line


def test_eval_table_of_a_study_set() -> None:
    predicted, truth, means, _ = rows(40, names=STUDY.names)
    truth[0]["warmth"] = math.nan
    result = {
        "version": "v7",
        "split": "validation",
        "model": evaluate(predicted, truth),
        "baseline": evaluate([means] * len(truth), truth),
    }
    text = render(eval_table(result, STUDY))
    assert "Hireability" in text and "Warmth" in text and "mean (all targets)" in text
    assert "mean (5 traits)" not in text
    warmth = next(line for line in text.splitlines() if "Warmth" in line)
    assert " 39 " in warmth  # rated clips, shown because a rating is missing


def test_eval_table_of_the_builtin_set() -> None:
    predicted, truth, means, _ = rows(40)
    result = {
        "version": "v7",
        "split": "validation",
        "model": evaluate(predicted, truth),
        "baseline": evaluate([means] * len(truth), truth),
    }
    text = render(eval_table(result))
    assert "Emotional stability" in text and "mean (5 traits)" in text
    assert "v7 on validation (40 clips)" in text
