"""The optimisation loop both LLM heads share: AdamW, warm-up, early stopping on a holdout.

The best weights (by holdout mean accuracy) are kept in memory and restored at the end,
so a late bad step never becomes the model. With a `Checkpoint` the loop's whole state is
written every few minutes and a later run of the same training resumes from it.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.config import TrainConfig
from daemon.learn.checkpoint import Checkpoint, LoopState
from daemon.learn.heads.base import NotApplicable

log = logging.getLogger("lprd.learn")
# progress(step, total steps, last loss, best holdout accuracy, seconds elapsed, ETA seconds)
Progress = Callable[[int, int, "float | None", float, float, "float | None"], None]


@dataclass
class FitResult:
    """How the fit went: best holdout score, when, and the evaluation history."""

    best_score: float
    best_step: int
    steps: int
    seconds: float
    tokens: int
    history: list[tuple[int, float]] = field(default_factory=list)
    resumed_from: int = 0  # the step a checkpoint restored, 0 for a fresh start


def _trainable_state(module: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}


def _restore(module: Any, state: dict[str, Any]) -> None:
    import torch

    params = dict(module.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def fit(
    module: Any,
    param_groups: list[dict],
    rows: Sequence[Any],
    loss_fn: Callable[[list[Any]], tuple[Any, int]],
    score_fn: Callable[[], float],
    cfg: TrainConfig,
    check_stop: Callable[[], None] = lambda: None,
    deadline: float | None = None,
    reserve_factor: float = 0.0,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
) -> FitResult:
    """Train `module` on `rows` with `loss_fn(batch) -> (loss, tokens)`; early-stop on `score_fn`.

    With `deadline` (time.monotonic()), training stops early so that what comes after it
    fits before the deadline: one last evaluation of the steps since the previous one,
    then `reserve_factor` times an evaluation's measured time (the caller's final scoring,
    e.g. report rows / holdout rows). `progress(step, total, loss, best, elapsed_s, eta_s)`
    is called after every step and evaluation. With `checkpoint`, a saved state of this
    same training is restored first and the state is saved whenever it is due.
    """
    import torch

    steps_per_epoch = max(1, math.ceil(len(rows) / cfg.batch_size))
    total = max(1, min(cfg.max_steps, math.ceil(cfg.epochs * steps_per_epoch)))
    opt = torch.optim.AdamW(param_groups, weight_decay=0.0)
    warmup = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / total)
    )
    rng = random.Random(cfg.seed)
    order: list[int] = []
    tokens, bad, step, last_loss, evaluated, eval_total, before = 0, 0, 0, None, 0, 0.0, 0.0
    start = time.monotonic()
    restored = checkpoint.load(module, opt, sched) if checkpoint is not None else None
    if restored is None:
        best = FitResult(score_fn(), 0, 0, 0.0, 0)
        best.history.append((0, best.best_score))
        best_state = _trainable_state(module)
        log.info("step 0/%d: holdout mean accuracy %.4f", total, best.best_score)
    else:
        state, best_state = restored
        best = FitResult(state.best_score, state.best_step, 0, 0.0, 0, list(state.history))
        best.resumed_from = step = evaluated = state.step
        order, tokens, bad, before = list(state.order), state.tokens, state.bad, state.seconds
        rng.setstate(state.rng)
        log.info("step %d/%d: resumed, best holdout %.4f", step, total, best.best_score)
    eval_s = time.monotonic() - start  # measured again at every evaluation
    start, first = time.monotonic(), step  # rates count only the steps taken in this process
    report = progress or (lambda *_args: None)
    report(step, total, None, best.best_score, 0.0, None)  # where a resumed run starts

    def evaluate_now(step: int) -> bool:
        """Score the holdout; True when early stopping says to stop."""
        nonlocal eval_s, eval_total, bad, best_state, evaluated
        module.eval()
        began = time.monotonic()
        score = score_fn()
        eval_s, evaluated = time.monotonic() - began, step
        eval_total += eval_s
        best.history.append((step, score))
        log.info("step %d/%d: loss %.4f, holdout mean accuracy %.4f", step, total, last_loss, score)
        if score > best.best_score:
            best.best_score, best.best_step, bad = score, step, 0
            best_state = _trainable_state(module)
            return False
        bad += 1
        return bad >= cfg.patience

    while step < total:
        check_stop()
        if deadline is not None:
            done = step - first
            step_s = (time.monotonic() - start - eval_total) / done if done else 0.0
            left = deadline - time.monotonic() - eval_s * reserve_factor
            if left < step_s + eval_s:  # no time for another step and its evaluation
                if step == 0 and best.resumed_from == 0:  # nothing learned: nothing to score
                    raise NotApplicable(
                        f"no time to train: its first holdout scoring ({eval_s:.0f} s) "
                        "left no time in the training budget for a step and the validation "
                        "scoring"
                    )
                if evaluated < step and left >= eval_s:
                    evaluate_now(step)
                log.info(
                    "stopping at step %d/%d to end within the time budget (best step %d)",
                    step,
                    total,
                    best.best_step,
                )
                break
        step += 1
        if len(order) < cfg.batch_size:
            order += rng.sample(range(len(rows)), len(rows))
        batch = [rows[i] for i in order[: cfg.batch_size]]
        del order[: cfg.batch_size]
        module.train()
        loss, n_tok = loss_fn(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in param_groups for p in g["params"]], 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += n_tok
        last_loss = float(loss.item())
        stop = False
        if step % cfg.eval_every == 0 or step == total:
            stop = evaluate_now(step)
        elapsed = time.monotonic() - start
        eta = elapsed / (step - first) * (total - step)
        if deadline is not None:
            eta = min(eta, max(0.0, deadline - time.monotonic()))
        report(step, total, last_loss, best.best_score, elapsed, 0.0 if stop else eta)
        if checkpoint is not None and checkpoint.due() and not stop and step < total:
            state = LoopState(
                step, list(order), rng.getstate(), best.best_score, best.best_step, bad,
                tokens, before + elapsed, list(best.history),
            )  # fmt: skip
            checkpoint.save(module, opt, sched, state, best_state)
        if stop:
            log.info("early stop at step %d (best %d)", step, best.best_step)
            break
    _restore(module, best_state)
    module.eval()
    best.steps, best.seconds, best.tokens = step, before + time.monotonic() - start, tokens
    return best
