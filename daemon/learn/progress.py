"""A training run's time budget, and the progress it publishes while it trains.

The budget (`train.time_budget_s`) runs from the start of the run over every profile and
head; each head process gets what is left of it. The progress is one JSON document in
`training_runs.progress`, read by `lprd train`, `lprd status` and the dashboard:

    {"budget_s": 1200, "budget_ends_at": "2025-01-01T12:20:00", "updated_at": "...",
     "heads": [{"profile": "transcript_only", "kind": "regression", "phase": "training",
                "rows": {"fit": 5100, "holdout": 900, "report": 2000}, "step": 40,
                "total": 300, "loss": 0.03, "holdout_accuracy": 0.884, "elapsed_s": 95.0,
                "eta_s": 610.0, "reason": null}]}

Writes are throttled (one every `min_interval_s`, except phase changes) and never fail the
training: a database error is logged and the training goes on.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.db import Database, utcnow

log = logging.getLogger("lprd.learn")
MIN_LLM_HEAD_S = 120.0  # an LLM head started with less of the budget left is skipped
MIN_HEAD_S = 10.0  # and any other head
PHASES = ("loading", "training", "scoring validation", "done", "skipped", "failed")
FINAL_PHASES = ("done", "skipped", "failed")


def is_llm_head(kind: str) -> bool:
    """An LoRA-fine-tuned head (not a ridge over features): what HEADS says of it."""
    from daemon.learn.heads import is_llm_head as llm

    return llm(kind)


@dataclass
class Budget:
    """A training run's time budget: `total_s` (0: unlimited) ending at `deadline`
    (time.monotonic()) and, for readers in other processes, at `ends_at` (UTC)."""

    total_s: float
    deadline: float | None
    ends_at: datetime | None

    @classmethod
    def start(cls, total_s: float, left_s: float | None = None) -> Budget:
        """A budget of `total_s` with `left_s` of it left (all of it by default)."""
        if not total_s:
            return cls(0.0, None, None)
        left = total_s if left_s is None else left_s
        return cls(total_s, time.monotonic() + left, utcnow() + timedelta(seconds=left))

    def left(self) -> float:
        """Seconds left (infinite when unlimited)."""
        if self.deadline is None:
            return math.inf
        return max(0.0, self.deadline - time.monotonic())

    def skip_reason(self, kind: str) -> str | None:
        """Why `kind` is not started with what is left, or None when it may start."""
        if self.deadline is None:
            return None
        need = MIN_LLM_HEAD_S if is_llm_head(kind) else MIN_HEAD_S
        left = self.left()
        if left >= need:
            return None
        return (
            f"skipped the {kind} head: {left:.0f} s of the {self.total_s:.0f} s training "
            f"budget left (it needs at least {need:.0f} s)"
        )


class RunProgress:
    """Publishes the progress of one run's heads; the train job and its head processes
    each hold one for the same run and merge their entries into the same document."""

    def __init__(
        self, db: Database, run_id: int | None, budget: Budget, min_interval_s: float = 2.0
    ) -> None:
        self.db, self.run_id, self.budget = db, run_id, budget
        self.min_interval_s = min_interval_s
        self._last_write = -math.inf
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}

    def head(self, profile: str, kind: str, force: bool = False, **fields: Any) -> None:
        """Update one head's entry; written now on a phase change or `force`, else at
        most once every `min_interval_s`."""
        if self.run_id is None:
            return
        entry = self._pending.setdefault((profile, kind), {})
        force = force or ("phase" in fields and fields["phase"] != entry.get("phase"))
        entry.update(fields)
        if force or time.monotonic() - self._last_write >= self.min_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write the pending entries (merged into what the other processes wrote)."""
        if self.run_id is None or not self._pending:
            return
        self._last_write = time.monotonic()
        try:
            self._write()
        except Exception:  # noqa: BLE001 - progress must never fail the training
            log.warning("could not record the training's progress", exc_info=True)

    def _write(self) -> None:
        from storage.models import TrainingRun

        with self.db.write() as session:
            run = session.get(TrainingRun, self.run_id)
            if run is None:
                return
            doc = loads(run.progress) or {"heads": []}
            heads = doc.setdefault("heads", [])
            for (profile, kind), fields in self._pending.items():
                found = [h for h in heads if (h["profile"], h["kind"]) == (profile, kind)]
                if not found:
                    heads.append({"profile": profile, "kind": kind})
                    found = heads[-1:]
                found[0].update(fields)
            doc["budget_s"] = self.budget.total_s
            ends = self.budget.ends_at
            doc["budget_ends_at"] = ends.isoformat(timespec="seconds") if ends else None
            doc["updated_at"] = utcnow().isoformat(timespec="seconds")
            run.progress = json.dumps(doc)


def loads(raw: str | None) -> dict[str, Any] | None:
    """The progress document, or None when there is none (or it cannot be read)."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def budget_left_s(doc: dict[str, Any], now: datetime | None = None) -> float | None:
    """Seconds of the run's budget left, from its document (None: unlimited or unknown)."""
    ends = doc.get("budget_ends_at")
    if not ends:
        return None
    left = (datetime.fromisoformat(ends) - (now or utcnow())).total_seconds()
    return max(0.0, left)


def current_head(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The head working now (the last one not finished), or None."""
    active = [h for h in doc.get("heads", []) if h.get("phase") not in FINAL_PHASES]
    return active[-1] if active else None


def duration(seconds: float | None) -> str:
    """3 s, 4 min 05 s, 1 h 02 min."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def head_line(head: dict[str, Any]) -> str:
    """One head in words: "transcript_only regression: training, 5100 fit + 900 holdout
    rows, step 40/300, holdout 0.8840, ETA 10 min 10 s"."""
    parts = [f"{head['profile']} {head['kind']}: {head.get('phase', '?')}"]
    rows = head.get("rows") or {}
    if rows:
        parts.append(" + ".join(f"{n} {name}" for name, n in rows.items()) + " rows")
    if head.get("total"):
        parts.append(f"step {head.get('step', 0)}/{head['total']}")
    if head.get("holdout_accuracy") is not None:
        parts.append(f"holdout {head['holdout_accuracy']:.4f}")
    if head.get("phase") not in FINAL_PHASES and head.get("eta_s") is not None:
        parts.append(f"ETA {duration(head['eta_s'])}")
    if head.get("reason"):
        parts.append(head["reason"])
    return ", ".join(parts)


def summary(doc: dict[str, Any] | None) -> str | None:
    """The running head and the budget left, in words, or None."""
    if not doc:
        return None
    head = current_head(doc)
    parts = [head_line(head)] if head else []
    left = budget_left_s(doc)
    if left is not None:
        parts.append(f"{duration(left)} of the {duration(doc.get('budget_s'))} budget left")
    return "; ".join(parts) or None
