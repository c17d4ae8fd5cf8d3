"""The optimisation loop both LLM heads share: AdamW, warm-up, early stopping on a holdout.

The best weights (by holdout mean accuracy) are kept in memory and restored at the end,
so a late bad step never becomes the model.
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

log = logging.getLogger("lprd.learn")


@dataclass
class FitResult:
    """How the fit went: best holdout score, when, and the evaluation history."""

    best_score: float
    best_step: int
    steps: int
    seconds: float
    tokens: int
    history: list[tuple[int, float]] = field(default_factory=list)


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
) -> FitResult:
    """Train `module` on `rows` with `loss_fn(batch) -> (loss, tokens)`; early-stop on `score_fn`."""
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
    best = FitResult(score_fn(), 0, 0, 0.0, 0)
    best.history.append((0, best.best_score))
    best_state = _trainable_state(module)
    log.info("step 0/%d: holdout mean accuracy %.4f", total, best.best_score)
    start, tokens, bad = time.monotonic(), 0, 0
    for step in range(1, total + 1):
        check_stop()
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
        if step % cfg.eval_every == 0 or step == total:
            module.eval()
            score = score_fn()
            best.history.append((step, score))
            log.info(
                "step %d/%d: loss %.4f, holdout mean accuracy %.4f", step, total, loss.item(), score
            )
            if score > best.best_score:
                best.best_score, best.best_step, bad = score, step, 0
                best_state = _trainable_state(module)
            else:
                bad += 1
                if bad >= cfg.patience:
                    log.info("early stop at step %d (best %d)", step, best.best_step)
                    break
    _restore(module, best_state)
    module.eval()
    best.steps, best.seconds, best.tokens = step, time.monotonic() - start, tokens
    return best
