"""`lprd forget VIDEO`: delete everything stored about a video (it is personal data).

The forget is recorded first (daemon/runtime/forgetting.py): one killed half-way is finished by
the same command again, by `lprd forget --resume`, or by the next daemon start.
"""

from __future__ import annotations

import argparse

from daemon.commands._common import open_existing_db, resolve_video
from daemon.config import Config
from daemon.errors import LprdError
from daemon.runtime import forgetting
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import Video


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("forget", help="delete all data stored about a video")
    parser.add_argument("video", nargs="?", help="video id, sha256 prefix or file name")
    parser.add_argument(
        "--keep-original",
        action="store_true",
        help="keep the original file if lprd moved it into its store",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="finish every forget that was interrupted (a daemon start does it too)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    """Finish interrupted forgets named (or all with --resume), then forget the video."""
    if args.video is None and not args.resume:
        raise LprdError("name a VIDEO to forget, or give --resume")
    db = open_existing_db(config)
    try:
        store = forgetting.guarded_store(config, db)
        resumed = forgetting.resume(db, store, None if args.resume else args.video)
        for item in resumed:
            print(
                f"finished forgetting video #{item.video_id} {item.name} "
                f"({item.sha256[:12]}): the files an interrupted forget left were deleted"
            )
        if args.video is None or (resumed and not _matches(db, args.video)):
            if not resumed:
                print("no interrupted forget to finish")
            return 0
        return _forget(db, config, store, resolve_video(db, args.video), args.keep_original)
    finally:
        db.dispose()


def _matches(db: Database, ref: str) -> bool:
    try:
        resolve_video(db, ref)
    except LprdError:
        return False
    return True


def _forget(
    db: Database, config: Config, store: ArtifactStore, video: Video, keep_original: bool
) -> int:
    """Forget one video and say what was deleted and what was kept."""
    kept = forgetting.forget(db, config, store, video, keep_original)
    print(
        f"forgot video #{video.id} {video.name} ({video.sha256[:12]}): "
        "database rows, artifacts and report deleted"
    )
    for source in kept:
        print(f"a dataset label for this clip name was kept (imported from {source})")
    original = store.resolve_video_path(video.path)
    if not original.is_relative_to(store.originals_dir()):
        print(f"the original at {original} is yours and was left untouched")
    elif keep_original:
        print(f"lprd's copy of the original was kept at {original}")
    return 0
