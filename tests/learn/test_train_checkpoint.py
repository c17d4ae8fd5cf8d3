"""A long LLM training resumes from its last checkpoint after a stop or a kill, and ends
with exactly the weights an uninterrupted run reaches."""

from __future__ import annotations

import pytest

from daemon.config import TrainConfig
from daemon.errors import StopRequested
from daemon.learn import loop
from daemon.learn.checkpoint import Checkpoint, checkpoint_key

torch = pytest.importorskip("torch")


def _problem(seed: int = 0):
    """A linear model, its rows and a deterministic loss and score."""
    torch.manual_seed(seed)
    module = torch.nn.Linear(4, 1)
    x = torch.randn(40, 4)
    y = x @ torch.tensor([[0.5], [-1.0], [2.0], [0.1]])
    rows = list(range(40))

    def loss_fn(batch):
        idx = torch.tensor(batch)
        return torch.nn.functional.mse_loss(module(x[idx]), y[idx]), len(batch)

    def score_fn():
        with torch.no_grad():
            return -float(torch.nn.functional.mse_loss(module(x), y))

    return module, rows, loss_fn, score_fn


def _fit(checkpoint=None, stop_at=None):
    module, rows, loss_fn, score_fn = _problem()
    cfg = TrainConfig(max_steps=30, epochs=100.0, batch_size=8, eval_every=7, patience=100)
    calls = {"steps": 0}

    def check_stop():
        if stop_at is not None and calls["steps"] == stop_at:
            raise StopRequested("stopped")
        calls["steps"] += 1

    groups = [{"params": list(module.parameters()), "lr": 0.05}]
    result = loop.fit(module, groups, rows, loss_fn, score_fn, cfg, check_stop, None, 0.0, None,
                      checkpoint)  # fmt: skip
    return module, result


def test_a_stopped_training_resumes_to_the_uninterrupted_weights(tmp_path):
    reference, ref_result = _fit()
    key = checkpoint_key(test="linear")
    with pytest.raises(StopRequested):
        _fit(Checkpoint(tmp_path, key, every_s=0.0), stop_at=18)  # saved after every step
    checkpoint = Checkpoint(tmp_path, key, every_s=0.0)
    assert checkpoint.path.exists()
    resumed, result = _fit(checkpoint)
    assert result.resumed_from == 18  # the last step finished before the stop
    assert result.steps == ref_result.steps == 30
    assert result.history == ref_result.history
    assert result.best_step == ref_result.best_step
    for a, b in zip(resumed.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_resumed_training_times_only_its_own_steps(tmp_path, monkeypatch):
    """The ETA (and the step time the budget check uses) of a resumed run must not count the
    steps it restored as if they had taken no time."""
    key = checkpoint_key(test="linear")
    with pytest.raises(StopRequested):
        _fit(Checkpoint(tmp_path, key, every_s=0.0), stop_at=18)
    clock = [1000.0]
    monkeypatch.setattr(loop.time, "monotonic", lambda: clock[0])
    module, rows, loss_fn, score_fn = _problem()

    def one_second_steps(batch):
        clock[0] += 1.0
        return loss_fn(batch)

    reports = []
    cfg = TrainConfig(max_steps=30, epochs=100.0, batch_size=8, eval_every=7, patience=100)
    groups = [{"params": list(module.parameters()), "lr": 0.05}]
    loop.fit(module, groups, rows, one_second_steps, score_fn, cfg, lambda: None, None, 0.0,
             lambda *args: reports.append(args), Checkpoint(tmp_path, key, every_s=1e9))  # fmt: skip
    assert reports[0][0] == 18  # the first report says where the run resumed
    etas = {step: eta for step, _total, _loss, _best, _elapsed, eta in reports[1:]}
    assert min(etas) == 19
    assert etas[19] == pytest.approx(11.0) and etas[25] == pytest.approx(5.0)


def test_a_damaged_checkpoint_is_set_aside_and_training_starts_afresh(tmp_path):
    checkpoint = Checkpoint(tmp_path, "k", every_s=1e9)
    checkpoint.path.parent.mkdir(parents=True)
    checkpoint.path.write_bytes(b"not a checkpoint")
    module, result = _fit(checkpoint)
    assert result.resumed_from == 0 and result.steps == 30
    assert checkpoint.path.with_suffix(".damaged").exists()
    checkpoint.clear()
    assert not checkpoint.path.exists()


def test_full_budget_lifts_the_limits_and_keeps_checkpoints(tmp_path):
    from daemon.commands.train import full_budget
    from daemon.config import load_config

    config = load_config(home=tmp_path, env={})
    config.train.max_train_rows, config.train.checkpoint_every_s = 400, 0.0
    full = full_budget(config).train
    assert full.time_budget_s == 0 and full.max_train_rows == 0 and full.max_report_rows == 0
    assert full.max_steps == 1_000_000 and full.epochs == config.train.epochs
    assert 0 < full.checkpoint_every_s <= 600
    assert config.train.max_train_rows == 400  # the home's own config is untouched
