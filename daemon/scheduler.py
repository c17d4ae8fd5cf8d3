"""Periodic jobs (APScheduler): inbox rescan, stale-run reaper, retrain check."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from daemon.config import Config
from storage import transitions
from storage.db import Database, utcnow
from storage.meta import set_meta

log = logging.getLogger("lprd.scheduler")
NEXT_RETRAIN_KEY = "next_retrain_check_at"


def reap_job(
    config: Config, db: Database, plans: Mapping[str, transitions.StagePlan] | None = None
) -> None:
    """Return runs whose heartbeat stopped (a hung or dead worker) to pending."""
    cutoff = utcnow() - timedelta(seconds=config.workers.stale_after_s)
    with db.write() as session:
        report = transitions.reap_stale(session, older_than=cutoff, plans=plans)
    if report.requeued or report.failed:
        log.warning("reaped stale runs: %d requeued, %d failed", report.requeued, report.failed)


def retrain_job(config: Config, db: Database) -> None:
    """Start a training when enough new labelled descriptions have accumulated."""
    try:
        from daemon.learn.supervisor import maybe_start_training
    except ImportError:
        log.debug("training is not available in this installation")
        return
    message = maybe_start_training(config, db)
    if message:
        log.info("retrain: %s", message)
    next_at = utcnow() + timedelta(seconds=config.train.check_interval_s)
    set_meta(db, NEXT_RETRAIN_KEY, next_at.isoformat(timespec="seconds"))


def build_scheduler(
    config: Config,
    db: Database,
    rescan: Callable[[], object],
    plans: Mapping[str, transitions.StagePlan] | None = None,
) -> BackgroundScheduler:
    """A background scheduler with lprd's periodic jobs (not started)."""
    scheduler = BackgroundScheduler(
        timezone="UTC", daemon=True, job_defaults={"coalesce": True, "max_instances": 1}
    )
    scheduler.add_job(rescan, "interval", seconds=config.inbox.rescan_interval_s, id="rescan")
    scheduler.add_job(
        reap_job,
        "interval",
        seconds=max(5.0, config.workers.stale_after_s / 2),
        args=(config, db, plans),
        id="reap",
    )
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
