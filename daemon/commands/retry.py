"""`lprd retry [VIDEO] [--stage S] [--failed] [--subject SPEAKER_xx|auto]`: re-queue stages
(and what follows them); `--subject` records which diarized speaker is the video's subject
and re-runs diarize and everything after it."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from sqlalchemy import select

from daemon.commands._common import open_existing_db, resolve_video
from daemon.config import Config
from daemon.errors import LprdError
from daemon.pipeline import Pipeline
from storage.db import Database
from storage.models import FAILED, RUNNING, StageRun, Video
from storage.transitions import StagePlan, requeue

AUTO = "auto"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("retry", help="re-queue failed or finished stages")
    parser.add_argument(
        "video", nargs="?", help="video id, sha256 prefix or file name (default: all)"
    )
    parser.add_argument("--stage", action="append", help="only this stage (repeatable)")
    parser.add_argument("--failed", action="store_true", help="only failed stage runs")
    parser.add_argument(
        "--subject",
        metavar="SPEAKER",
        help="the diarized speaker (e.g. SPEAKER_01) who is the subject; 'auto' lets lprd choose",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    """Reset the selected runs and their downstream stages to pending."""
    pipeline = Pipeline.default()
    unknown = [s for s in args.stage or [] if s not in pipeline.stages]
    if unknown:
        raise LprdError(f"unknown stage(s) {unknown}; stages are {pipeline.order}")
    if not (args.video or args.stage or args.failed):
        raise LprdError("say what to retry: a VIDEO, --stage S, --failed, or a combination")
    if args.subject is not None and not args.video:
        raise LprdError("--subject needs the VIDEO whose subject it names")
    db = open_existing_db(config)
    video = resolve_video(db, args.video) if args.video else None
    count = 0
    if video is not None and args.subject is not None:
        count += choose_subject(db, pipeline.plans, video, args.subject)
    if video is None or args.subject is None or args.stage or args.failed:
        with db.write() as session:
            count += requeue(
                session,
                pipeline.plans,
                video_ids=[video.id] if video else None,
                stages=args.stage,
                only_status=[FAILED] if args.failed else None,
            )
    db.dispose()
    print(f"{count} stage runs re-queued")
    return 0


def choose_subject(db: Database, plans: Mapping[str, StagePlan], video: Video, subject: str) -> int:
    """Record (or with 'auto' clear) the video's chosen subject and re-queue diarize and
    what follows; returns the stage runs re-queued."""
    chosen = None if subject.strip().lower() == AUTO else subject.strip()
    if chosen == "":
        raise LprdError("--subject needs a speaker label such as SPEAKER_01, or 'auto'")
    with db.write() as session:
        session.get(Video, video.id).subject_speaker = chosen
        count = requeue(session, plans, video_ids=[video.id], stages=["diarize"])
        running = session.scalar(
            select(StageRun.id).where(
                StageRun.video_id == video.id,
                StageRun.stage == "diarize",
                StageRun.status == RUNNING,
            )
        )
    how = f"{chosen} chosen as the subject" if chosen else "the subject is chosen automatically"
    print(f"{video.name}: {how}")
    if running is not None:
        print(f"diarize is running now; run `lprd retry {video.name} --stage diarize` after it")
    return count
