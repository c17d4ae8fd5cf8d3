"""Periodic jobs (APScheduler): inbox rescan, stale-run reaper, retrain check.

The rescan runs on hosts with the `inbox` role and the retrain check on those with the
`train` role; the reaper runs everywhere, since any host may return a dead one's work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from daemon.config import Config
from storage.db import Database, utcnow
from storage.meta import set_meta

log = logging.getLogger("lprd.scheduler")
NEXT_RETRAIN_KEY = "next_retrain_check_at"


def retrain_job(config: Config, db: Database) -> None:
    """Start a training when enough new labelled descriptions have accumulated."""
    try:
        from daemon.learn.jobs.supervisor import maybe_start_training
    except ImportError:
        log.debug("training is not available in this installation")
        return
    message = maybe_start_training(config, db)
    if message:
        log.info("retrain: %s", message)
    next_at = utcnow() + timedelta(seconds=config.train.check_interval_s)
    set_meta(db, NEXT_RETRAIN_KEY, next_at.isoformat(timespec="seconds"))


def build_scheduler(
    config: Config, db: Database, rescan: Callable[[], object], reap: Callable[[], object]
) -> BackgroundScheduler:
    """A background scheduler with lprd's periodic jobs for this host's roles (not started).

    `rescan` reconciles the inbox; `reap` returns the runs of dead processes to the queue.
    """
    scheduler = BackgroundScheduler(
        timezone="UTC", daemon=True, job_defaults={"coalesce": True, "max_instances": 1}
    )
    if "inbox" in config.roles:
        scheduler.add_job(rescan, "interval", seconds=config.inbox.rescan_interval_s, id="rescan")
    scheduler.add_job(
        reap, "interval", seconds=max(1.0, config.workers.stale_after_s / 2), id="reap"
    )
    if "train" not in config.roles:
        return scheduler
    first = utcnow() + timedelta(seconds=60)
    scheduler.add_job(
        retrain_job,
        "interval",
        seconds=config.train.check_interval_s,
        args=(config, db),
        id="retrain",
        next_run_time=first,
    )
    set_meta(db, NEXT_RETRAIN_KEY, first.isoformat(timespec="seconds"))
    return scheduler
