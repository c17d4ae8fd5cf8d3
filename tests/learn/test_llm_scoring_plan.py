"""LLM heads size their scoring to the time budget: a timed probe, a plan of holdout and
report rows that leaves half the time to training, honest metrics on the rows scored
(baseline on the same rows), a blend and a promotion that compare like with like, and
nothing changed without a deadline."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from daemon.learn import registry, scoring_plan, trainer
from daemon.learn.heads import HEADS, blend, lora
from daemon.learn.heads.base import NotApplicable
from daemon.learn.metrics import baseline
from storage.models import TARGETS
from tests.learn.test_learn_tiny import add_labelled, synthetic_rows, tiny_model, tiny_train_config

S_PER_ROW = 0.05  # the slowed tiny model's scoring cost, in virtual seconds
__all__ = ["tiny_model"]  # the shared fixture


def test_the_plan_leaves_half_the_time_to_training_within_its_bounds() -> None:
    plan = scoring_plan.plan(600.0, 0.58, holdout=400, report=2000, probe=16)
    cost = 0.58 * scoring_plan.SAFETY
    scoring = (scoring_plan.HOLDOUT_SCORINGS * plan.holdout_rows + plan.report_rows) * cost
    assert scoring <= 300.0 and scoring > 300.0 - 3 * cost  # half, to a few rows
    assert 64 <= plan.holdout_rows < 400 and 100 <= plan.report_rows < 2000
    # Time one side cannot use goes to the other.
    small = scoring_plan.plan(600.0, 0.58, holdout=70, report=2000, probe=16)
    assert small.holdout_rows == 70 and small.report_rows > plan.report_rows
    # Plenty of time: every row, the rest trains.
    assert _rows(scoring_plan.plan(1e6, 0.58, 400, 2000, 16)) == (400, 2000)
    # Fewer rows than the minimum: all of them.
    assert _rows(scoring_plan.plan(300.0, 0.58, 40, 60, 16)) == (40, 60)


def _rows(plan: scoring_plan.ScoringPlan) -> tuple[int, int]:
    return plan.holdout_rows, plan.report_rows


def test_when_nothing_fits_the_reason_gives_the_figures() -> None:
    with pytest.raises(NotApplicable) as caught:
        scoring_plan.plan(250.0, 0.58, 400, 2000, 16)
    assert str(caught.value) == (
        "no time to train: scoring 64 holdout rows 2 times and 100 report rows takes ~145 s "
        "at 0.58 s/row, more than half of the 250 s of the training budget left for this "
        "head (the other half is for training steps)"
    )


def test_smaller_samples_are_part_of_larger_ones() -> None:
    rows = list(range(1000))
    small, large = scoring_plan.sample(rows, 100, 3), scoring_plan.sample(rows, 300, 3)
    assert len(small) == 100 and set(small) < set(large) and small == sorted(small)
    assert scoring_plan.sample(rows, 5000, 3) == rows


class VirtualClock:
    """The trainer's and the loop's clock: real time, less the time the model took to load
    and to score, plus S_PER_ROW for every row scored: no sleeping, and no dependence on
    how long loading and scoring take on a busy machine."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clock(monkeypatch) -> VirtualClock:
    from daemon.learn import loop

    clock = VirtualClock()
    fake = SimpleNamespace(monotonic=clock.monotonic)
    monkeypatch.setattr(trainer, "time", fake)
    monkeypatch.setattr(lora, "time", fake)
    monkeypatch.setattr(loop, "time", fake)
    real_load = lora._load_llm

    def load(*args, **kwargs):
        began = time.monotonic()
        loaded = real_load(*args, **kwargs)
        clock.offset -= time.monotonic() - began
        return loaded

    monkeypatch.setattr(lora, "_load_llm", load)
    return clock


@pytest.fixture
def slow_scoring(monkeypatch, clock) -> list[int]:
    """The regression head takes S_PER_ROW (virtual) seconds a row to score, an LLM on a
    CPU in small; returns the number of rows of each predict call."""
    from daemon.learn.heads.regression import RegressionModel

    calls: list[int] = []
    real = RegressionModel.predict

    def slow(self, texts, batch_size=8):
        calls.append(len(texts))
        began = time.monotonic()
        scores = real(self, texts, batch_size)
        clock.offset += S_PER_ROW * len(texts) - (time.monotonic() - began)
        return scores

    monkeypatch.setattr(RegressionModel, "predict", slow)
    return calls


def _setup(config, database, tiny_model: Path, heads: list[str], n: int = 1000):
    tiny_train_config(config, tiny_model, heads)
    config.train.checkpoint_every_s, config.train.max_steps = 0, 20
    add_labelled(database, synthetic_rows(n))
    return trainer.prepare(database, "transcript_only", config.train)


def _metrics(database, version: str) -> dict:
    return json.loads(registry.get_version(database, version).metrics_json)


def test_a_tight_deadline_scores_a_sample_and_still_trains(
    config, database, tiny_model, clock, slow_scoring
) -> None:
    prep = _setup(config, database, tiny_model, ["regression"])
    assert len(prep.report) == 200 and 64 < len(prep.hold) <= 400
    # Scoring the holdout twice and every report row would take ~ (2 x 120 + 200) x 0.05
    # = 22 s, more than half of the 35 s.
    published: list[dict] = []
    deadline = clock.monotonic() + 35.0
    _score, version = trainer.train_head(
        config, database, prep, "regression", "p1", "cpu", deadline=deadline,
        publish=lambda **fields: published.append(fields),
    )  # fmt: skip
    assert clock.monotonic() < deadline + 1.0
    metrics = _metrics(database, version)
    plan = metrics["fit"]["scoring_plan"]
    assert plan["probe_rows"] == 16 and plan["s_per_row"] >= S_PER_ROW
    assert slow_scoring[0] == 16  # the probe first
    assert 64 <= plan["holdout_rows"] < len(prep.hold)
    assert 100 <= plan["report_rows"] < 200
    assert metrics["fit"]["steps"] >= 1
    # The figures say on how many rows, and the baseline is on the same rows.
    rows = metrics["report_rows"]
    assert rows == {"scored": plan["report_rows"], "of": 200}
    assert metrics["validation"]["n"] == metrics["baseline"]["n"] == rows["scored"]
    saved = blend.load_predictions(Path(registry.get_version(database, version).path),
                                   blend.REPORT)  # fmt: skip
    truth = [e.scores for e in prep.report if e.clip_name in saved]
    assert len(truth) == rows["scored"]
    expected = baseline([e.scores for e in prep.fit + prep.hold], truth)
    assert metrics["baseline"]["mean_accuracy"] == pytest.approx(expected["mean_accuracy"])
    assert any(f.get("rows", {}).get("report") == f"{rows['scored']}/200" for f in published)
    assert metrics["intervals"]["calibration_rows"] == plan["holdout_rows"]
    table = registry.model_versions_table(database)
    assert f"({rows['scored']}/200 rows)" in "".join(table.columns[7]._cells)


def test_without_a_deadline_nothing_is_probed_and_every_row_is_scored(
    config, database, tiny_model, clock, slow_scoring
) -> None:
    prep = _setup(config, database, tiny_model, ["regression"], n=120)
    config.train.max_steps = 20
    _score, version = trainer.train_head(config, database, prep, "regression", "p2", "cpu")
    metrics = _metrics(database, version)
    assert slow_scoring[0] == len(prep.hold)  # the first scoring is the whole holdout
    assert metrics["report_rows"] == {"scored": 24, "of": 24}
    assert metrics["fit"]["scoring_plan"] == {
        "holdout_rows": len(prep.hold), "report_rows": 24, "s_per_row": None,
        "left_s": None, "probe_rows": 0,
    }  # fmt: skip
    assert registry.report_rows(registry.get_version(database, version)) is None


def test_a_head_with_no_time_to_score_the_minimum_is_not_trained(
    config, database, tiny_model, clock, slow_scoring
) -> None:
    prep = _setup(config, database, tiny_model, ["regression"])
    with pytest.raises(NotApplicable, match=r"no time to train: scoring 64 holdout rows 2 "
                       r"times and 100 report rows takes ~1\d s at 0\.05 s/row, more than half of the "
                       r"1\d s"):  # fmt: skip
        lora.train_llm(HEADS["regression"], prep, config.train, "cpu", lambda: None,
                          deadline=clock.monotonic() + 20.0)  # fmt: skip
    assert slow_scoring == [16]  # the probe, nothing more


def test_llm_heads_share_what_is_left(config, database) -> None:
    cfg = config.train
    cfg.heads, cfg.profiles = ["numeric", "regression", "generative", "blend"], ["full"]
    now = time.monotonic()
    first = trainer.llm_head_deadline(database, cfg, "full", "regression", now + 1000.0)
    # 30 s kept for the blend, the rest halved between the two LLM heads.
    assert first - now == pytest.approx((1000.0 - 30.0) / 2, abs=1.0)
    last = trainer.llm_head_deadline(database, cfg, "full", "generative", now + 400.0)
    assert last - now == pytest.approx(400.0 - 30.0, abs=1.0)
    assert trainer.llm_head_deadline(database, cfg, "full", "regression", None) is None


def test_a_sampled_llm_head_blends_on_the_rows_both_parts_scored(
    config, database, tiny_model, clock, slow_scoring
) -> None:
    prep = _setup(config, database, tiny_model, ["text_features", "regression", "blend"])
    trainer.train_head(config, database, prep, "text_features", "b1", "cpu")
    # 30 s are kept for the blend; the regression head gets 35 s, as above.
    deadline = clock.monotonic() + 65.0
    trainer.train_head(config, database, prep, "regression", "b1", "cpu", deadline=deadline)
    _score, version = trainer.train_head(config, database, prep, "blend", "b1", "cpu")
    rows = {v.kind: _metrics(database, v.version) for v in registry.all_versions(database)}
    scored = rows["regression"]["report_rows"]["scored"]
    assert scored < 200 and rows["text_features"]["report_rows"] == {"scored": 200, "of": 200}
    mix = rows["blend"]
    assert mix["report_rows"] == {"scored": scored, "of": 200}
    assert mix["validation"]["n"] == mix["baseline"]["n"] == scored
    llm_clips = blend.load_predictions(
        Path(registry.get_version(database, version).path) / "parts" / "1", blend.REPORT
    )
    assert set(llm_clips) == set(json.loads(
        (Path(registry.get_version(database, version).path) / blend.REPORT).read_text()
    ))  # fmt: skip


def _registered(db, tmp_path: Path, version: str, scores: dict[str, dict], of: int) -> str:
    """A candidate whose saved validation scores are `scores` ({clip: scores})."""
    from daemon.learn.metrics import evaluate

    folder = tmp_path / version
    folder.mkdir()
    (folder / blend.REPORT).write_text(json.dumps(scores))
    truth = [dict.fromkeys(TARGETS, 0.5)] * len(scores)
    figure = evaluate(list(scores.values()), truth)["mean_accuracy"]
    registry.register_candidate(
        db, version=version, kind="regression", base_model="tiny", template_version="t1",
        feature_profile="transcript_only", train_count=10, val_mean_accuracy=figure,
        metrics={"baseline": {"mean_accuracy": 0.5},
                 "report_rows": {"scored": len(scores), "of": of}}, path=str(folder),
    )  # fmt: skip
    return version


def test_a_sampled_candidate_is_compared_on_the_rows_both_scored(database, tmp_path) -> None:
    rows = [(f"v{i:03d}.000.mp4", "validation", "x", dict.fromkeys(TARGETS, 0.5))
            for i in range(200)]  # fmt: skip
    add_labelled(database, rows)
    clips = [r[0] for r in rows]
    # The ridge: perfect on the first 100 clips, poor on the rest (0.95 overall).
    ridge = {c: dict.fromkeys(TARGETS, 0.5 if i < 100 else 0.4) for i, c in enumerate(clips)}
    assert registry.promote_if_better(database, _registered(database, tmp_path, "ridge",
                                                             ridge, 200)).promoted  # fmt: skip
    # The LLM scored the first 100 only: 0.97 there, which beats the ridge's headline
    # 0.95 but not the ridge's 1.0 on the same rows.
    llm = {c: dict.fromkeys(TARGETS, 0.47) for c in clips[:100]}
    decision = registry.promote_if_better(database, _registered(database, tmp_path, "llm",
                                                                  llm, 200))  # fmt: skip
    assert not decision.promoted
    assert decision.reason == (
        "llm (0.9700) does not beat the promoted ridge (1.0000) on the 100 validation rows "
        "both scored"
    )
    better = {c: dict.fromkeys(TARGETS, 0.5) for c in clips[100:]}
    decision = registry.promote_if_better(database, _registered(database, tmp_path, "llm2",
                                                                  better, 200))  # fmt: skip
    assert decision.promoted and "(1.0000 vs 0.9000 on the 100 validation rows both" in (
        decision.reason
    )
