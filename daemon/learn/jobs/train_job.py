"""The training child process:
`python -m daemon.learn.jobs.train_job CONFIG_JSON RUN_ID [--exit-with-parent] [--set NAME]`.

Without `--set` it trains the built-in First Impressions set and then every target set
the config declares (a set without enough labelled rows is skipped with the reason).

Its stdout and stderr are the run's log file. It closes its own training_runs row (done,
failed, or stopped when SIGTERM stops it); if it is killed instead, the parent's watcher
or the reaper closes it. With `--exit-with-parent` (a foreground `lprd train`) it ends
when the process that started it is gone. Unless allow_downloads is set, it locks itself
(and its head processes) off the network first, as `lprd run` does (daemon/netlock.py),
whoever started it.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

from daemon.config import Config
from daemon.errors import StopRequested
from daemon.learn.jobs.isolation import STOPPED_EXIT, exit_with_parent, stop_flag
from daemon.learn.jobs.retry import RETRY_TRIGGER, plan_retry
from daemon.learn.jobs.supervisor import finish_run, stop_run
from daemon.learn.orphans import remove_orphan_models
from daemon.learn.registry import promoted_query
from daemon.learn.trainer import TrainingReport, run_training
from daemon.model_cache import resolve_device
from daemon.netlock import lock_models_network
from daemon.targets import TargetSet, get_set, target_sets
from storage.db import Database
from storage.models import ModelVersion, TrainingRun
from storage.states import TrainingStatus

log = logging.getLogger("lprd.learn")

TRAIN_STOP_GRACE_S = 30.0  # a job whose `lprd train` is gone has this long to stop itself


def promoted_in_run(db: Database, tag: str) -> str | None:
    """The versions this run promoted (theirs end in `-<tag>`), one per set and profile,
    or None."""
    query = promoted_query(target_set=None).where(ModelVersion.version.like(f"%-{tag}"))
    with db.read() as session:
        versions = sorted(row.version for row in session.scalars(query))
    return ", ".join(versions) or None


def sets_to_train(config: Config, only: str | None) -> list[TargetSet]:
    """The set named by `--set`, else the built-in set and every declared one."""
    if only is not None:
        return [get_set(config, only)]
    return list(target_sets(config).values())


def run_trigger(db: Database, run_id: int) -> str | None:
    """What started this run: manual, scheduled or retry."""
    with db.read() as session:
        run = session.get(TrainingRun, run_id)
        return run.trigger if run else None


def main(argv: list[str] | None = None) -> int:
    """Run one training; exit 0 when it completed (promoted or not), 1 on failure.

    Each head trains in its own process; heads that fail are named, with the reason, in
    the run's error, and a retry with smaller settings is planned for the next check.
    """
    args = argv if argv is not None else sys.argv[1:]
    config_file, run_id = args[:2]
    only = args[args.index("--set") + 1] if "--set" in args[2:] else None
    config = Config.model_validate_json(Path(config_file).read_text())
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    check_stop, _ = stop_flag()
    if "--exit-with-parent" in args[2:]:
        # A foreground `lprd train` that dies (its terminal closed) leaves a stopped run
        exit_with_parent(stop_grace_s=TRAIN_STOP_GRACE_S)
    db = Database(config.database_url)
    tag = f"r{run_id}"
    try:
        lock_models_network(config.allow_downloads, config.database_url, "a training job")
        remove_orphan_models(config, db)  # what a killed run wrote but never registered
        device = resolve_device(config.device)
        log.info("training run %s on %s", run_id, device)
        report = TrainingReport()
        for target_set in sets_to_train(config, only):
            part = run_training(
                config, db, tag, device, check_stop, Path(config_file), int(run_id), target_set
            )
            report.messages += part.messages
            report.heads += part.heads
    except StopRequested as exc:
        log.info("training run %s stopped: %s", run_id, exc)
        stop_run(db, int(run_id), f"{exc}; candidates of the run that were not promoted dropped")
        return STOPPED_EXIT
    except BaseException as exc:  # noqa: BLE001 - every failure must close the run row
        traceback.print_exc()
        with db.write() as session:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            finish_run(session, int(run_id), TrainingStatus.FAILED, error)
        return 1
    version = promoted_in_run(db, tag)
    failures = "; ".join(h.line() for h in report.failures + report.skipped) or None
    retry = plan_retry(
        db, config.train, report.failures, run_trigger(db, int(run_id)) == RETRY_TRIGGER
    )
    if retry:
        report.messages.append(retry)
    with db.write() as session:
        finish_run(session, int(run_id), TrainingStatus.DONE, failures, version)
    print("\n".join(report.messages), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
