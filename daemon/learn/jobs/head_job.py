"""One head of a training run in its own process:
`python -m daemon.learn.jobs.head_job CONFIG_JSON PROFILE KIND TAG DEVICE RESULT_JSON
[--run-id N] [--budget-left-s S] [--set NAME]`.

It prepares the profile's rows, trains the head, registers the candidate and writes a
HeadResult (version and holdout score, or the failure in words) to RESULT_JSON. With
`--run-id` it publishes its progress in that training run's row; an LLM head stops
training early to end within `--budget-left-s`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

from daemon.config import Config
from daemon.learn.backbone import unsloth_import_error
from daemon.learn.heads.base import NotApplicable
from daemon.learn.heap import fix_mmap_threshold
from daemon.learn.jobs.isolation import (
    HEAD_STOP_GRACE_S,
    HeadResult,
    exit_with_parent,
    failure_reason,
    peak_rss_mb,
    stop_flag,
    write_result,
)
from daemon.learn.progress import Budget, RunProgress, is_llm_head
from daemon.learn.trainer import prepare, train_head
from daemon.targets import get_set
from storage.db import Database


def main(argv: list[str] | None = None) -> int:
    """Train one head; exit 0 with a candidate, 1 with a recorded failure."""
    parser = argparse.ArgumentParser(prog="daemon.learn.jobs.head_job")
    for name in ("config_file", "profile", "kind", "tag", "device", "result_file"):
        parser.add_argument(name)
    parser.add_argument("--run-id", type=int)
    parser.add_argument("--budget-left-s", type=float)
    parser.add_argument("--set", dest="target_set", help="a study's target set")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    profile, kind, tag, device = args.profile, args.kind, args.tag, args.device
    fix_mmap_threshold()  # before torch allocates anything
    config = Config.model_validate_json(Path(args.config_file).read_text())
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )  # first: importing unsloth gives the root logger a handler, and basicConfig then nothing
    if is_llm_head(kind) and config.train.use_unsloth != "never":
        unsloth_import_error()  # before transformers loads: unsloth patches it on import
    check_stop, _ = stop_flag(grace_s=HEAD_STOP_GRACE_S)
    exit_with_parent()
    if config.train.threads:
        import torch

        torch.set_num_threads(config.train.threads)
    if is_llm_head(kind):
        _quiet_progress_bars()
    db = Database(config.database_url)
    budget = Budget.start(config.train.time_budget_s, args.budget_left_s)
    progress = RunProgress(db, args.run_id, budget)

    def publish(**fields: object) -> None:
        progress.head(profile, kind, **fields)

    publish(phase="loading")
    result = HeadResult(profile, kind)
    start = time.monotonic()
    try:
        prep = prepare(db, profile, config.train, get_set(config, args.target_set))
        if isinstance(prep, str):
            raise ValueError(prep)
        result.holdout, result.version = train_head(
            config, db, prep, kind, tag, device, check_stop, budget.deadline, publish
        )
    except NotApplicable as exc:  # e.g. a blend with nothing to blend: skipped, not failed
        result.skipped = str(exc)
    except BaseException as exc:  # noqa: BLE001 - the parent needs the reason, whatever it is
        traceback.print_exc()
        result.error = failure_reason(exc, kind, peak_rss_mb())
    result.seconds, result.peak_rss_mb = time.monotonic() - start, peak_rss_mb()
    write_result(Path(args.result_file), result)
    progress.flush()
    db.dispose()
    return 0 if result.error is None else 1


def _quiet_progress_bars() -> None:
    """No download or loading bars in the run's log (TQDM_DISABLE and
    HF_HUB_DISABLE_PROGRESS_BARS are set in the environment too)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
