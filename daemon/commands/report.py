"""`lprd report VIDEO [-o FILE.html]`: a video's self-contained HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.commands._common import open_existing_db, resolve_video
from daemon.config import Config
from daemon.pipeline import Pipeline
from daemon.runtime.forgetting import guarded_store


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report", help="write a video's HTML report (scores, timelines, description)"
    )
    parser.add_argument("video", help="video id, sha256 prefix or file name")
    parser.add_argument(
        "-o", "--output", type=Path, help="HTML file to write (default HOME/reports/<sha256>.html)"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    from daemon.report import default_report_path
    from daemon.report.make import report_html, write_report

    db = open_existing_db(config)
    try:
        video = resolve_video(db, args.video)
        store = guarded_store(config, db)
        html = report_html(db, store, video, Pipeline.default().order)
        target = args.output or default_report_path(config.home_dir, video.sha256)
        size = write_report(store, target.resolve(), html)
    finally:
        db.dispose()
    print(f"{target} ({size / 1e6:.2f} MB)")
    return 0
