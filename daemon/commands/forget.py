"""`lprd forget VIDEO`: delete everything stored about a video (it is personal data)."""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.commands._common import open_existing_db, resolve_video
from daemon.config import Config
from daemon.report import default_report_path
from storage.artifacts import ArtifactStore
from storage.videos import forget_video


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("forget", help="delete all data stored about a video")
    parser.add_argument("video", help="video id, sha256 prefix or file name")
    parser.add_argument(
        "--keep-original",
        action="store_true",
        help="keep the original file if lprd moved it into its store",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    """Remove the rows, the artifacts and (if lprd holds it) the original copy."""
    db = open_existing_db(config)
    video = resolve_video(db, args.video)
    store = ArtifactStore(config.store_dir)
    with db.write() as session:
        kept = forget_video(session, video.id)
    store.delete_video(video.sha256)
    default_report_path(config.home_dir, video.sha256).unlink(missing_ok=True)
    original = Path(video.path)
    held = original.is_relative_to(store.originals_dir())
    if held and not args.keep_original:
        original.unlink(missing_ok=True)
    db.dispose()
    print(
        f"forgot video #{video.id} {video.name} ({video.sha256[:12]}): database rows, artifacts and report deleted"
    )
    for source in kept:
        print(f"a dataset label for this clip name was kept (imported from {source})")
    if not held:
        print(f"the original at {original} is yours and was left untouched")
    return 0
