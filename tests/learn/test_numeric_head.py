"""The numeric head: ridge on the numbers a description states."""

from __future__ import annotations

import random

from daemon.learn.heads.numeric import NumericModel, measures
from daemon.learn.metrics import baseline, evaluate
from daemon.learn.occlusion import explain
from daemon.text.describe import build_description
from storage.models import TARGETS
from tests.text.test_describe_text import PROSODY, full_inputs


def test_measures_are_named_stably_and_skip_the_quote() -> None:
    slow = measures(build_description(full_inputs()))
    fast = measures(build_description(full_inputs(prosody={**PROSODY, "speech_rate_wps": 4.4})))
    (rate,) = [k for k in slow if k.startswith("voice|speaking rate|") and k.endswith("|words")]
    assert slow[rate] == 3.1 and fast[rate] == 4.4
    assert slow.keys() == fast.keys()  # the comparison words changed, the names did not
    assert slow["voice|loudness||lufs"] == -19.2
    assert slow["voice|emotion heard in the voice|happy|"] == 21.0
    assert slow["transcript||automatic transcript english|words"] == 17.0
    quoted = measures('What was said (official transcript, 3 words):\n"I am 42"')
    assert list(quoted.values()) == [3.0]


def _rows(n: int, seed: int) -> tuple[list[str], list[dict]]:
    """Descriptions whose speaking rate drives extraversion; the rest is noise."""
    rng = random.Random(seed)
    texts, ys = [], []
    for _ in range(n):
        rate, pitch = rng.uniform(1.5, 4.5), rng.uniform(90, 250)
        texts.append(
            f"How it was said:\n- Speaking rate: {rate:.1f} words per second of speech.\n"
            f"- Pitch: mean {pitch:.0f} Hz."
        )
        y = dict.fromkeys(TARGETS, 0.5)
        y["extraversion"] = 0.2 + 0.15 * rate + rng.gauss(0, 0.02)
        ys.append(y)
    return texts, ys


def test_numeric_head_learns_a_measure_and_reports_on_fresh_rows(tmp_path) -> None:
    fit_x, fit_y = _rows(200, 1)
    hold_x, hold_y = _rows(60, 2)
    model, info = NumericModel.fit(fit_x, fit_y, hold_x, hold_y)
    assert info["features"] == 2 and len(info["holdout_predictions"]) == 60
    test_x, test_y = _rows(100, 3)
    got = evaluate(model.predict(test_x), test_y)
    base = baseline(fit_y, test_y)
    assert got["per_target"]["extraversion"]["accuracy"] > 0.97
    assert got["mean_accuracy"] > base["mean_accuracy"] + 0.01
    model.save(tmp_path)
    assert NumericModel.load(tmp_path).predict(test_x) == model.predict(test_x)
    # Occlusion: without the section its numbers are missing, imputed with the mean.
    _, reasons = explain(model.predict, test_x[0])
    (voice,) = reasons["extraversion"]
    assert voice["section"] == "voice" and voice["contribution"] != 0.0


def test_grouped_folds_keep_groups_together() -> None:
    from daemon.learn.crossval import grouped_folds
    from daemon.learn.data import Example

    rows = [Example(f"g{i // 3}.{i}", f"g{i // 3}", "", {}, "1") for i in range(30)]
    folds = grouped_folds(rows, 4, seed=0)
    assert len(folds) == 4 and sum(map(len, folds)) == 30
    owner = {}
    for i, fold in enumerate(folds):
        for row in fold:
            assert owner.setdefault(row.group_id, i) == i  # one group, one fold
    assert len(grouped_folds(rows[:6], 5, seed=0)) == 2  # never more folds than groups


def test_without_validation_labels_figures_are_cross_validated(config, database) -> None:
    import json

    from daemon.learn import registry
    from daemon.learn.trainer import run_training
    from tests.learn.test_learn_tiny import add_labelled

    texts, ys = _rows(120, 4)
    rows = [
        (f"yt{i // 2:03d}.{i % 2}.mp4", None, text, y)
        for i, (text, y) in enumerate(zip(texts, ys, strict=True))
    ]
    add_labelled(database, rows, profile="full")
    t = config.train
    t.heads, t.profiles, t.cv_folds, t.min_train_rows = ["numeric"], ["full"], 4, 8
    report = run_training(config, database, "cv1", "cpu")
    (head,) = report.heads
    row = registry.get_version(database, head.version)
    metrics = json.loads(row.metrics_json)
    assert metrics["report_split"] == "grouped 4-fold CV"
    assert metrics["validation"]["n"] == 120  # every row scored once, out of fold
    assert metrics["intervals"]["calibration"] == "grouped 4-fold out-of-fold rows"
    assert head.holdout == row.val_mean_accuracy  # heads compete on the CV figure
    assert row.val_mean_accuracy > metrics["baseline"]["mean_accuracy"]
    assert row.state == "promoted"
