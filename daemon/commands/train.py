"""`lprd train`: fine-tune now, in a child process with its own log."""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.commands._common import open_db
from daemon.config import Config
from storage.states import TrainingStatus


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train models on the labelled descriptions now")
    parser.add_argument(
        "--background", action="store_true", help="start the training and return at once"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    from daemon.learn.supervisor import start_training, training_status

    db = open_db(config)
    run, message = start_training(config, db, trigger="manual", wait=not args.background)
    print(message)
    if run is None:
        return 1
    if args.background:
        return 0
    last = training_status(db, config)["last_run"]
    log = Path(run.log_path)
    if log.exists():
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        print("\n".join(lines[-12:]))
    print(f"run #{run.id} {last['status']}" + (f": {last['error']}" if last["error"] else ""))
    db.dispose()
    return 0 if last["status"] == TrainingStatus.DONE else 1
