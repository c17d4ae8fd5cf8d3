"""The `blend` head puts the fine-tuned LLM into the ensemble: per-trait weights chosen on
held-out training rows, figures from the parts' own scores, served from its own folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.learn.heads import blend
from storage.models import TARGETS
from tests.learn.test_learn_tiny import add_labelled, synthetic_rows, tiny_train_config


def test_weights_follow_the_better_part_per_trait():
    truth = [dict.fromkeys(TARGETS, v) for v in (0.2, 0.5, 0.8, 0.4)]
    good = [dict(s) for s in truth]
    bad = [dict.fromkeys(TARGETS, 0.5) for _ in truth]
    llm = [{**g, "openness": b["openness"]} for g, b in zip(good, bad, strict=True)]
    other = [{**b, "openness": g["openness"]} for g, b in zip(good, bad, strict=True)]
    weights = blend.choose_weights(llm, other, truth)
    assert weights["openness"] == 0.0 and weights["extraversion"] == 1.0
    mixed = blend.combine(llm, other, weights)
    for m, y in zip(mixed, truth, strict=True):
        assert m == pytest.approx(y)
    # Equal parts: the smaller LLM weight wins the tie.
    assert blend.choose_weights(truth, truth, truth) == dict.fromkeys(TARGETS, 0.0)


def test_a_gain_within_noise_leaves_the_trait_to_the_other_head():
    import random

    rng = random.Random(3)
    truth = [dict.fromkeys(TARGETS, rng.uniform(0.2, 0.8)) for _ in range(200)]
    # Both parts share the same error; the LLM only adds noise of its own, so any weight
    # above 0 that wins on this sample wins by chance.
    other = [{t: y[t] + rng.gauss(0, 0.1) for t in TARGETS} for y in truth]
    llm = [{t: o[t] + rng.gauss(0, 0.01) for t in TARGETS} for o in other]
    lucky = [t for t in TARGETS if _minimum_error_weight(llm, other, truth, t) > 0]
    assert lucky, "the sample should favour some weight above 0 by chance"
    assert blend.choose_weights(llm, other, truth) == dict.fromkeys(TARGETS, 0.0)


def test_a_gain_from_one_person_alone_is_noise_when_rows_are_grouped():
    # Person 0 (10 clips): the LLM is exact and the other head 0.3 off. Nine others
    # (2 clips each): the other head is exact and the LLM 0.04 off.
    truth = [dict.fromkeys(TARGETS, 0.5) for _ in range(28)]
    other = [dict.fromkeys(TARGETS, 0.8 if i < 10 else 0.5) for i in range(28)]
    llm = [dict.fromkeys(TARGETS, 0.5 if i < 10 else 0.54) for i in range(28)]
    groups = ["p0"] * 10 + [f"p{1 + i // 2}" for i in range(18)]
    assert _minimum_error_weight(llm, other, truth, "openness") == 1.0
    assert blend.choose_weights(llm, other, truth) == dict.fromkeys(TARGETS, 1.0)
    assert blend.choose_weights(llm, other, truth, groups) == dict.fromkeys(TARGETS, 0.0)


def _minimum_error_weight(llm, other, truth, t):
    errors = [
        sum(
            abs(w * a[t] + (1 - w) * b[t] - y[t]) for a, b, y in zip(llm, other, truth, strict=True)
        )
        for w in blend.WEIGHTS
    ]
    return blend.WEIGHTS[errors.index(min(errors))]


@pytest.mark.slow
def test_a_run_blends_its_llm_with_its_ridge_head(config, database, tmp_path):
    from daemon.learn import registry
    from daemon.learn.metrics import evaluate
    from daemon.learn.predictor import load_predictor
    from daemon.learn.trainer import run_training
    from tests.learn.test_learn_tiny import make_tiny_model

    tiny = make_tiny_model(tmp_path / "tiny")
    tiny_train_config(config, tiny, ["text_features", "regression", "blend"])
    config.train.max_steps, config.train.eval_every = 20, 10
    config.train.holdout_fraction = 0.3  # enough held-out rows to weigh the parts on
    add_labelled(database, synthetic_rows(120))
    report = run_training(config, database, "t1", "cpu")
    rows = {v.kind: v for v in registry.all_versions(database)}
    assert set(rows) == {"text_features", "regression", "blend"}, report.messages
    mix = rows["blend"]
    metrics = json.loads(mix.metrics_json)
    fit = metrics["fit"]
    assert fit["parts"] == [rows["text_features"].version, rows["regression"].version]
    assert set(fit["llm_weight"]) == set(TARGETS) and fit["weighted_on_rows"] >= 20
    assert metrics["validation"]["n"] == 24
    # Its validation figure is the weighted validation scores of its parts.
    parts = [blend.load_predictions(Path(rows[k].path), blend.REPORT) for k in
             ("regression", "text_features")]  # fmt: skip
    clips = list(parts[0])
    combined = blend.combine([parts[0][c] for c in clips], [parts[1][c] for c in clips],
                             fit["llm_weight"])  # fmt: skip
    labels = json.loads((Path(mix.path) / blend.REPORT).read_text())
    for c, m in zip(clips, combined, strict=True):
        assert labels[c] == pytest.approx(m)
    assert metrics["validation"]["mean_accuracy"] <= 1.0
    # Served from its own folder: the parts travel with it.
    texts = ["The speaker is cheerful and confident.", "The speaker is gloomy and nervous."]
    served = load_predictor(Path(mix.path), "cpu").predict(texts)
    ridge = load_predictor(Path(rows["text_features"].path), "cpu").predict(texts)
    llm = load_predictor(Path(rows["regression"].path), "cpu").predict(texts)
    expected = blend.combine(llm, ridge, fit["llm_weight"])
    for got, want in zip(served, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert "blend of text_features and regression" in registry.training_backend(mix)
    assert evaluate(served, served)["mean_accuracy"] == 1.0


@pytest.mark.slow
def test_without_a_budget_an_llm_head_leaves_scores_of_every_held_out_row(
    config, database, tmp_path
):
    from daemon.learn import registry
    from daemon.learn.trainer import prepare, run_training
    from tests.learn.test_learn_tiny import make_tiny_model

    tiny = make_tiny_model(tmp_path / "tiny")
    tiny_train_config(config, tiny, ["regression"])
    config.train.max_steps, config.train.eval_every, config.train.eval_limit = 4, 2, 8
    config.train.holdout_fraction, config.train.time_budget_s = 0.3, 0  # no budget
    add_labelled(database, synthetic_rows(120))
    run_training(config, database, "t1", "cpu")
    (row,) = registry.all_versions(database)
    held = prepare(database, "transcript_only", config.train).hold
    unseen = blend.load_predictions(Path(row.path), blend.UNSEEN)
    # Early stopping read 8 held-out rows; the final model scored the rest once more, for
    # the blend's weights and the conformal intervals.
    assert set(unseen) == {e.clip_name for e in held} and len(held) > 8
    assert json.loads(row.metrics_json)["fit"]["unseen_rows"] == len(held)


def test_blend_without_an_llm_head_is_skipped_not_failed(config, database):
    from daemon.learn.trainer import run_training

    config.train.heads, config.train.profiles = ["text_features", "blend"], ["transcript_only"]
    config.train.min_train_rows = 8
    add_labelled(database, synthetic_rows(60))
    report = run_training(config, database, "t2", "cpu")
    head = next(h for h in report.heads if h.kind == "blend")
    assert head.error is None and "no LLM head" in head.skipped
    assert not report.failures
