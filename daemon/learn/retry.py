"""Retrying the heads a training run lost, at the next scheduler check, with smaller
settings: half the batch and half the prompt length each time, down to batch 1 and 128
tokens; a head that fails even then is left out until the next scheduled training.

The plan lives in the `meta` table, so it survives a restart of the daemon.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from daemon.config import Config, TrainConfig
from daemon.learn.isolation import HeadResult
from storage.db import Database
from storage.meta import delete_meta, get_meta, set_meta

RETRY_KEY = "train_retry"
LLM_HEADS = ("regression", "generative")
MIN_BATCH, MIN_LENGTH = 1, 128


def plan_retry(db: Database, cfg: TrainConfig, failures: Sequence[HeadResult]) -> str | None:
    """Record a retry of the failed LLM heads with reduced settings; a line saying what."""
    failed = [h for h in failures if h.kind in LLM_HEADS]
    if not failed:
        return None
    batch, length = max(MIN_BATCH, cfg.batch_size // 2), max(MIN_LENGTH, cfg.max_length // 2)
    heads = sorted({h.kind for h in failed})
    if (batch, length) == (cfg.batch_size, cfg.max_length):
        return (
            f"not retrying the {', '.join(heads)} head(s): they failed at batch {batch} and "
            f"{length} tokens; they are left out until the next scheduled training"
        )
    plan = {
        "heads": heads,
        "profiles": sorted({h.profile for h in failed}),
        "batch_size": batch,
        "max_length": length,
    }
    set_meta(db, RETRY_KEY, json.dumps(plan))
    return (
        f"the {', '.join(heads)} head(s) will be retried at the next scheduler check with "
        f"batch {batch} and {length} tokens"
    )


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
