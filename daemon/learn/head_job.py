"""One head of a training run in its own process:
`python -m daemon.learn.head_job CONFIG_JSON PROFILE KIND TAG DEVICE RESULT_JSON`.

It prepares the profile's rows, trains the head, registers the candidate and writes a
HeadResult (version and holdout score, or the failure in words) to RESULT_JSON.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path

from daemon.config import Config
from daemon.learn.heap import fix_mmap_threshold
from daemon.learn.isolation import (
    HEAD_STOP_GRACE_S,
    HeadResult,
    exit_with_parent,
    failure_reason,
    peak_rss_mb,
    stop_flag,
    write_result,
)
from daemon.learn.trainer import prepare, train_head
from storage.db import Database


def main(argv: list[str] | None = None) -> int:
    """Train one head; exit 0 with a candidate, 1 with a recorded failure."""
    config_file, profile, kind, tag, device, result_file = (argv or sys.argv[1:])[:6]
    fix_mmap_threshold()  # before torch allocates anything
    config = Config.model_validate_json(Path(config_file).read_text())
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    check_stop, _ = stop_flag(grace_s=HEAD_STOP_GRACE_S)
    exit_with_parent()
    if config.train.threads:
        import torch

        torch.set_num_threads(config.train.threads)
    db = Database(config.database_url)
    result = HeadResult(profile, kind)
    start = time.monotonic()
    try:
        prep = prepare(db, profile, config.train)
        if isinstance(prep, str):
            raise ValueError(prep)
        result.holdout, result.version = train_head(config, db, prep, kind, tag, device, check_stop)
    except BaseException as exc:  # noqa: BLE001 - the parent needs the reason, whatever it is
        traceback.print_exc()
        result.error = failure_reason(exc, kind, peak_rss_mb())
    result.seconds, result.peak_rss_mb = time.monotonic() - start, peak_rss_mb()
    write_result(Path(result_file), result)
    db.dispose()
    return 0 if result.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
