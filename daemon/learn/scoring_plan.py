"""How many rows an LLM head scores when its training has a deadline.

Scoring is what makes an LLM head slow on a CPU: the packaged SmolLM2 predicts about
0.6 s per row with the regression head and 1.3 s with the generative one on 2 cores, so
400 holdout rows twice and all 2,000 validation rows take longer than a 20-minute
training budget. With a deadline, an LLM head therefore times a probe of `PROBE_ROWS`
holdout rows right after loading and plans from what is left:

- at least `TRAIN_SHARE` (half) of the time left goes to training steps;
- the rest, shrunk by `SAFETY` for the rows' uneven lengths, is scoring time: the
  report (validation) rows get `REPORT_SHARE` of it, the holdout the remainder, scored
  `HOLDOUT_SCORINGS` times (the untrained weights at step 0 and the last steps: with a
  deadline on a CPU the steps rarely reach `train.eval_every`);
- the holdout rows per scoring lie between `MIN_HOLDOUT_ROWS` and `train.eval_limit`, the
  report rows between `MIN_REPORT_ROWS` and all of them; time one side cannot use goes to
  the other, and what neither can use goes to training;
- when even the minimum does not fit in the scoring share, the head is not trained
  (NotApplicable, with the figures).

Rows are taken as prefixes of one seeded shuffle (`sample`), so a smaller sample is
part of a larger one and two heads scored on samples of the validation rows share the
smaller sample's rows. Without a deadline nothing is probed and every row is scored.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from daemon.learn.heads.base import NotApplicable

PROBE_ROWS = 16  # holdout rows timed right after loading
MIN_HOLDOUT_ROWS = 64  # fewer make early stopping and the conformal residuals noise
MIN_REPORT_ROWS = 100  # fewer make the validation figure too coarse to promote on
TRAIN_SHARE = 0.5  # at least this share of the time left trains
REPORT_SHARE = 0.5  # of the scoring time, the report rows' share
HOLDOUT_SCORINGS = 2  # holdout scorings planned: at step 0 and after the last steps
SAFETY = 1.1  # margin on the probe's per-row cost

T = TypeVar("T")


@dataclass(frozen=True)
class ScoringPlan:
    """Rows one LLM head scores: per holdout scoring, and of the report split."""

    holdout_rows: int
    report_rows: int
    s_per_row: float | None = None  # measured on the probe; None without a deadline
    left_s: float | None = None  # seconds left when planned
    probe_rows: int = 0

    def detail(self) -> dict[str, Any]:
        """The plan as recorded in the head's metrics (`fit.scoring_plan`)."""
        out = asdict(self)
        if self.s_per_row is not None:
            out["s_per_row"] = round(self.s_per_row, 4)
            out["left_s"] = round(self.left_s or 0.0, 1)
        return out


def sample(rows: Sequence[T], n: int, seed: int) -> list[T]:
    """The first `n` of `rows` in one seeded shuffle, in their original order: for one
    seed a smaller sample is always part of a larger one."""
    if n >= len(rows):
        return list(rows)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [rows[i] for i in sorted(order[:n])]


def unplanned(holdout_rows: int, report_rows: int) -> ScoringPlan:
    """No deadline: every holdout row (up to `train.eval_limit`) and every report row."""
    return ScoringPlan(holdout_rows, report_rows)


def plan(left_s: float, s_per_row: float, holdout: int, report: int, probe: int) -> ScoringPlan:
    """The rows to score with `left_s` seconds left at `s_per_row`, out of `holdout`
    available holdout rows (already at most `train.eval_limit`) and `report` report rows;
    NotApplicable when the minimum does not fit (see the module docstring)."""
    cost = max(s_per_row, 1e-9) * SAFETY
    budget = left_s * (1.0 - TRAIN_SHARE)
    min_hold, min_report = min(MIN_HOLDOUT_ROWS, holdout), min(MIN_REPORT_ROWS, report)
    need = (HOLDOUT_SCORINGS * min_hold + min_report) * cost
    if need > budget:
        raise NotApplicable(
            f"no time to train: scoring {min_hold} holdout rows {HOLDOUT_SCORINGS} times and "
            f"{min_report} report rows takes ~{need:.0f} s at {s_per_row:.2f} s/row, more "
            f"than half of the {left_s:.0f} s of the training budget left for this head "
            "(the other half is for training steps)"
        )
    report_n = _clamp(budget * REPORT_SHARE / cost, min_report, report)
    hold_n = _clamp((budget - report_n * cost) / (HOLDOUT_SCORINGS * cost), min_hold, holdout)
    report_n = _clamp((budget - HOLDOUT_SCORINGS * hold_n * cost) / cost, min_report, report)
    return ScoringPlan(hold_n, report_n, s_per_row, left_s, probe)


def _clamp(rows: float, low: int, high: int) -> int:
    return max(low, min(high, math.floor(rows)))
