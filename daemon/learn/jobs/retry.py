"""Retrying the heads a training run lost, at the next scheduler check.

An LLM head is retried with smaller settings: half the batch and half the prompt length
each time, down to batch 1 and 128 tokens. Any other head (embedding, numeric, text
features...) has no such settings; it is retried once as it was, since its failure is
most often the machine's (memory taken by other work, a full disk) rather than its own.
A head that fails even then is left out until the next scheduled training.

The plan lives in the `meta` table, so it survives a restart of the daemon.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from daemon.config import Config, TrainConfig
from daemon.learn.jobs.isolation import HeadResult
from daemon.learn.progress import is_llm_head
from storage.db import Database
from storage.meta import delete_meta, get_meta, set_meta

RETRY_KEY = "train_retry"
RETRY_TRIGGER = "retry"
MIN_BATCH, MIN_LENGTH = 1, 128


def plan_retry(
    db: Database, cfg: TrainConfig, failures: Sequence[HeadResult], retried: bool = False
) -> str | None:
    """Record a retry of the failed heads (LLM heads with reduced settings); a line saying
    what. `retried`: this run was itself a retry, so the other heads are not retried again."""
    if not failures:
        return None
    batch, length = max(MIN_BATCH, cfg.batch_size // 2), max(MIN_LENGTH, cfg.max_length // 2)
    can_shrink = (batch, length) != (cfg.batch_size, cfg.max_length)
    again = [h for h in failures if (can_shrink if is_llm_head(h.kind) else not retried)]
    lines = [_left_out(h, batch, length) for h in failures if h not in again]
    if again:
        plan = {
            "heads": sorted({h.kind for h in again}),
            "profiles": sorted({h.profile for h in again}),
            "batch_size": batch,
            "max_length": length,
        }
        set_meta(db, RETRY_KEY, json.dumps(plan))
        settings = retry_settings(plan["heads"], batch, length)
        lines.insert(
            0, f"{_names(plan['heads'])} will be retried at the next scheduler check ({settings})"
        )
    return "; ".join(lines)


def _names(heads: Sequence[str]) -> str:
    return f"the {', '.join(heads)} head{'s' if len(heads) > 1 else ''}"


def _left_out(head: HeadResult, batch: int, length: int) -> str:
    """Why a failed head is not retried."""
    if is_llm_head(head.kind):
        why = f"it failed at batch {batch} and {length} tokens"
    else:
        why = "it failed on its retry too"
    return (
        f"not retrying the {head.kind} head: {why}; "
        "it is left out until the next scheduled training"
    )


def retry_settings(heads: Sequence[str], batch: int, length: int) -> str:
    """The settings a retry runs with, in words."""
    parts = []
    if any(is_llm_head(h) for h in heads):
        parts.append(f"LLM heads at batch {batch} and {length} tokens")
    if any(not is_llm_head(h) for h in heads):
        parts.append("other heads as they were")
    return ", ".join(parts)


def take_retry(db: Database, config: Config) -> Config | None:
    """The config of the planned retry (removing the plan), or None when none is planned."""
    raw = get_meta(db, RETRY_KEY)
    if raw is None:
        return None
    delete_meta(db, RETRY_KEY)
    plan = json.loads(raw)
    retry = config.model_copy(deep=True)
    retry.train.heads = plan["heads"]
    retry.train.profiles = plan["profiles"]
    retry.train.batch_size = plan["batch_size"]
    retry.train.max_length = plan["max_length"]
    return retry
