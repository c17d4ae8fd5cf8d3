"""`lprd add FILE...`: register files without the watcher."""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.config import Config
from daemon.pipeline import Pipeline
from daemon.runtime.forgetting import guarded_store
from daemon.runtime.home import prepare_home
from daemon.runtime.inbox import Inbox
from storage.states import FileState


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("add", help="register video files now (outside or inside the inbox)")
    parser.add_argument("files", nargs="+", type=Path)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    """Register each file at once (no stability wait: the user says it is complete)."""
    db = prepare_home(config)
    inbox = Inbox(config, db, guarded_store(config, db), Pipeline.default(config.stages))
    failures = 0
    for path in args.files:
        if not path.exists():
            print(f"{path}: no such file")
            failures += 1
            continue
        verdict = inbox.register_now(path.absolute())
        print(f"{path}: {verdict.state}" + (f" — {verdict.reason}" if verdict.reason else ""))
        failures += verdict.state == FileState.REJECTED
    db.dispose()
    return 1 if failures else 0
