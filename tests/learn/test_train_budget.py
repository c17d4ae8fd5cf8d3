"""A training ends within its time budget: the loop stops at a deadline keeping its best
weights, a head without enough budget left is skipped (not failed, not retried), heads
publish their progress, and an LLM head on a profile without validation labels is fitted
once on a grouped holdout fold instead of once per fold."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from daemon.learn import registry, trainer
from daemon.learn.heads import lora
from daemon.learn.jobs import supervisor
from daemon.learn.jobs.retry import RETRY_KEY, plan_retry
from daemon.learn.progress import Budget, RunProgress, budget_left_s, head_line, summary
from storage.meta import get_meta
from storage.models import TrainingRun
from tests.learn.test_learn_tiny import add_labelled, synthetic_rows


def _tiny_fit(cfg, deadline, reserve_factor=0.0, step_s=0.02, eval_s=0.01, calls=None):
    import torch

    from daemon.learn import loop

    torch.manual_seed(0)
    module = torch.nn.Linear(4, 1)
    rows = [(torch.randn(4), torch.randn(1)) for _ in range(32)]
    scores = iter(i / 1000 for i in range(1, 10_000))

    def loss_fn(batch):
        time.sleep(step_s)
        x, y = torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch])
        return torch.nn.functional.mse_loss(module(x), y), len(batch)

    def score_fn():
        time.sleep(eval_s)
        return next(scores)  # every evaluation improves: the last one is the best

    def progress(*args):
        if calls is not None:
            calls.append(args)

    params = [{"params": list(module.parameters()), "lr": 1e-2}]
    return loop.fit(module, params, rows, loss_fn, score_fn, cfg, deadline=deadline,
                    reserve_factor=reserve_factor, progress=progress)  # fmt: skip


def _loop_cfg(**kw):
    base = {"batch_size": 4, "max_steps": 10_000, "epochs": 10_000.0, "eval_every": 5}
    return SimpleNamespace(**{**base, "patience": 1000, "seed": 0, **kw})


def test_the_loop_stops_at_its_deadline_and_reports_progress() -> None:
    pytest.importorskip("torch")
    _tiny_fit(_loop_cfg(max_steps=2), deadline=None)  # imports and first calls: not timed
    calls: list[tuple] = []
    start = time.monotonic()
    result = _tiny_fit(_loop_cfg(), deadline=start + 1.0, reserve_factor=5.0, calls=calls)
    took = time.monotonic() - start
    # 5 evaluations' worth (0.05 s) is left for the caller's final scoring.
    assert took < 1.15, took  # a step's worth of slack on a busy machine
    assert 5 < result.steps < 10_000
    # The weights kept are the last evaluation's; the steps after it, when no evaluation
    # fitted before the deadline, are fewer than eval_every.
    assert result.best_step == result.history[-1][0] and result.steps - result.best_step < 5
    step, total, loss, best, elapsed, eta = calls[-1]
    assert (step, total) == (result.steps, 10_000) and loss is not None and best > 0
    assert elapsed > 0.5 and eta is not None and eta < 1.0  # the ETA is capped by the deadline
    assert [c[0] for c in calls[:3]] == [0, 1, 2]  # after every step


def test_a_head_whose_first_scoring_spends_the_budget_is_skipped_not_scored() -> None:
    import time

    from daemon.learn.heads.base import NotApplicable

    with pytest.raises(NotApplicable, match="left no time in the training budget"):
        _tiny_fit(_loop_cfg(), deadline=time.monotonic() + 0.005, eval_s=0.05)


def test_the_loop_without_a_deadline_runs_all_its_steps() -> None:
    result = _tiny_fit(_loop_cfg(max_steps=12), deadline=None, step_s=0.0, eval_s=0.0)
    assert result.steps == 12 and result.best_step == 12


def test_a_head_without_enough_budget_is_skipped_not_failed(config, database) -> None:
    t = config.train
    t.heads, t.profiles, t.min_train_rows = ["generative"], ["transcript_only"], 8
    add_labelled(database, synthetic_rows(60))
    run = supervisor._claim_run(database, "manual", config.logs_dir)
    budget = Budget.start(1200.0, left_s=40.4)
    report = trainer.train_profile(
        config, database, "transcript_only", "b1", "cpu", budget=budget, run_id=run.id
    )
    (head,) = report.heads
    assert head.skipped.startswith("skipped the generative head: 40 s of the 1200 s training")
    assert head.error is None and head.version is None
    assert report.failures == [] and report.skipped == [head]
    assert "skipped the generative head" in head.line()
    # Not a failure: nothing is planned for retry.
    assert plan_retry(database, t, report.failures) is None
    assert get_meta(database, RETRY_KEY) is None
    # The run's progress says so, and the status shows the budget.
    with database.read() as session:
        doc = json.loads(session.get(TrainingRun, run.id).progress)
    (entry,) = doc["heads"]
    assert entry["phase"] == "skipped" and "40 s of the 1200 s" in entry["reason"]
    assert doc["budget_s"] == 1200.0 and 0 < budget_left_s(doc) <= 41
    status = supervisor.training_status(database)
    assert status["running"]["progress"]["heads"][0]["phase"] == "skipped"
    assert "budget left" in status["summary"]


def test_progress_writes_are_throttled_and_never_fail(config, database) -> None:
    run = supervisor._claim_run(database, "manual", config.logs_dir)
    progress = RunProgress(database, run.id, Budget.start(0), min_interval_s=60.0)
    progress.head("full", "regression", phase="training", step=1, total=10)
    progress.head("full", "regression", step=2, total=10)  # throttled: not written yet
    with database.read() as session:
        doc = json.loads(session.get(TrainingRun, run.id).progress)
    assert doc["heads"][0]["step"] == 1 and doc["budget_ends_at"] is None
    progress.flush()
    with database.read() as session:
        doc = json.loads(session.get(TrainingRun, run.id).progress)
    assert doc["heads"][0]["step"] == 2
    assert "step 2/10" in head_line(doc["heads"][0]) and summary(doc).startswith("full regression")
    database.dispose()  # a broken database: logged, not raised
    progress.db = SimpleNamespace(write=lambda: (_ for _ in ()).throw(RuntimeError("gone")))
    progress.head("full", "regression", phase="scoring validation")


class _MeanModel:
    def __init__(self, mean):
        self.mean = mean

    def predict(self, texts):
        return [dict(self.mean) for _ in texts]

    def save(self, folder):
        (folder / "model.json").write_text(json.dumps(self.mean))


@pytest.mark.parametrize("kind", ["regression", "generative"])
def test_an_llm_head_on_a_cv_profile_is_fitted_once_on_a_holdout_fold(
    config, database, monkeypatch, kind
) -> None:
    config.train.min_train_rows, config.train.cv_folds = 8, 5
    rows = [(c, "train", text, s) for c, _split, text, s in synthetic_rows(100)]
    add_labelled(database, rows)  # no validation rows: a lab's own videos
    prep = trainer.prepare(database, "transcript_only", config.train)
    assert prep.report_split == trainer.CROSS_VALIDATION
    fitted = []

    def fake_llm(head, part, cfg, device, check_stop, *args, **kwargs):
        fitted.append(part)
        return trainer.Trained(head.name, _MeanModel(part.mean), 0.8, {}, "fake", {"kind": kind})

    def no_cv(*_args, **_kwargs):
        raise AssertionError("an LLM head must not be refit per fold")

    monkeypatch.setattr(lora, "train_llm", fake_llm)
    monkeypatch.setattr(trainer, "cross_validate", no_cv)
    _score, version = trainer.train_head(config, database, prep, kind, "cv1", "cpu")
    (part,) = fitted
    everyone = {e.clip_name for e in prep.fit + prep.hold}
    fold = {e.clip_name for e in part.report}
    assert fold and fold < everyone and not fold & {e.clip_name for e in part.fit + part.hold}
    assert not {e.group_id for e in part.report} & {e.group_id for e in part.fit + part.hold}
    metrics = json.loads(registry.get_version(database, version).metrics_json)
    assert metrics["report_split"] == f"grouped holdout fold ({len(fold)} rows)"
    # The baseline is the mean of the rest, the same as the fake model's scores.
    assert metrics["baseline"]["mean_accuracy"] == pytest.approx(
        metrics["validation"]["mean_accuracy"]
    )


def test_ridge_heads_on_a_cv_profile_keep_k_fold_cross_validation(
    config, database, monkeypatch
) -> None:
    config.train.min_train_rows = 8
    rows = [(c, "train", text, s) for c, _split, text, s in synthetic_rows(100)]
    add_labelled(database, rows)
    prep = trainer.prepare(database, "transcript_only", config.train)
    called = []
    real = trainer.cross_validate

    def counting(*args, **kwargs):
        called.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "cross_validate", counting)
    trainer.train_head(config, database, prep, "text_features", "cv2", "cpu")
    assert called == [1]


def test_the_train_command_shows_progress_live_or_as_lines(capsys) -> None:
    from rich.console import Console

    from daemon.commands.train import _LiveView, _PlainView
    from storage.db import utcnow

    ends = (utcnow() + timedelta(seconds=600)).isoformat()
    head = {"profile": "transcript_only", "kind": "regression", "phase": "training",
            "rows": {"fit": 27, "holdout": 5, "report": 8}, "step": 12, "total": 300,
            "holdout_accuracy": 0.8812, "eta_s": 95.0}  # fmt: skip
    skipped = {"profile": "transcript_only", "kind": "generative", "phase": "skipped",
               "reason": "skipped the generative head: 40 s of the 1200 s training budget left"}  # fmt: skip
    doc = {"budget_s": 1200.0, "budget_ends_at": ends, "heads": [head, skipped]}
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(_LiveView._render(doc))
    text = console.export_text()
    assert "12/300" in text and "0.8812" in text and "1 min 35 s" in text
    assert "of the 20 min 00 s budget left" in text and "40 s of the 1200 s" in text
    view = _PlainView()
    view.update(doc)
    view.update(doc)  # no phase changed: nothing printed
    head["phase"] = "scoring validation"
    view.update(doc)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("head transcript_only regression: scoring")
