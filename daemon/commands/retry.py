"""`lprd retry [VIDEO] [--stage S] [--failed]`: re-queue stages (and what follows them)."""

from __future__ import annotations

import argparse

from daemon.commands._common import open_db, resolve_video
from daemon.config import Config
from daemon.errors import LprdError
from daemon.pipeline import Pipeline
from storage.models import FAILED
from storage.transitions import requeue


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("retry", help="re-queue failed or finished stages")
    parser.add_argument(
        "video", nargs="?", help="video id, sha256 prefix or file name (default: all)"
    )
    parser.add_argument("--stage", action="append", help="only this stage (repeatable)")
    parser.add_argument("--failed", action="store_true", help="only failed stage runs")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    """Reset the selected runs and their downstream stages to pending."""
    pipeline = Pipeline.default()
    unknown = [s for s in args.stage or [] if s not in pipeline.stages]
    if unknown:
        raise LprdError(f"unknown stage(s) {unknown}; stages are {pipeline.order}")
    if not (args.video or args.stage or args.failed):
        raise LprdError("say what to retry: a VIDEO, --stage S, --failed, or a combination")
    db = open_db(config)
    video_ids = [resolve_video(db, args.video).id] if args.video else None
    with db.write() as session:
        count = requeue(
            session,
            pipeline.plans,
            video_ids=video_ids,
            stages=args.stage,
            only_status=[FAILED] if args.failed else None,
        )
    db.dispose()
    print(f"{count} stage runs re-queued")
    return 0
