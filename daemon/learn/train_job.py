"""The training child process: `python -m daemon.learn.train_job CONFIG_JSON RUN_ID`.

Its stdout and stderr are the run's log file. It closes its own training_runs row (done
or failed); if it is killed instead, the parent's watcher or the reaper closes it.
"""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from pathlib import Path

from sqlalchemy import select

from daemon.config import Config
from daemon.errors import StopRequested
from daemon.learn.schedule import finish_run
from daemon.learn.trainer import run_training
from daemon.model_cache import resolve_device
from storage.db import Database
from storage.models import ModelVersion
from storage.states import ModelState, TrainingStatus

log = logging.getLogger("lprd.learn")


def _promoted_in_run(db: Database, tag: str) -> str | None:
    with db.read() as session:
        return session.execute(
            select(ModelVersion.version).where(
                ModelVersion.state == ModelState.PROMOTED, ModelVersion.version.like(f"%-{tag}")
            )
        ).scalar_one_or_none()


def main(argv: list[str] | None = None) -> int:
    """Run one training; exit 0 when it completed (promoted or not), 1 on failure."""
    config_file, run_id = (argv if argv is not None else sys.argv[1:])[:2]
    config = Config.model_validate_json(Path(config_file).read_text())
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stopping = {"flag": False}

    def on_term(_sig: int, _frame: object) -> None:
        stopping["flag"] = True

    def check_stop() -> None:
        if stopping["flag"]:
            raise StopRequested("training stopped by SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    db = Database.at(config.database_path)
    tag = f"r{run_id}"
    try:
        device = resolve_device(config.device)
        log.info("training run %s on %s", run_id, device)
        messages = run_training(config, db, tag, device, check_stop)
    except BaseException as exc:  # noqa: BLE001 - every failure must close the run row
        traceback.print_exc()
        with db.write() as session:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            finish_run(session, int(run_id), TrainingStatus.FAILED, error)
        return 1
    version = _promoted_in_run(db, tag)
    with db.write() as session:
        finish_run(session, int(run_id), TrainingStatus.DONE, None, version)
    print("\n".join(messages), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
