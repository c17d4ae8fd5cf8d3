"""Label imports that keep descriptions current, for `lprd labels import` and the inbox.

A video's descriptions quote the official transcript from its label (its transcript-only
description always, its full one when `describe.transcript` is "official"), so a label
added or changed after its video was described re-runs `describe` and what follows.
This is the one place that does it, whichever way the label arrived (label files or a
`.labels.json` sidecar).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from daemon.config import Config
from daemon.labels.sidecars import SidecarResult, import_sidecar
from daemon.labels.store import ImportReport, import_labels
from storage.db import Database
from storage.models import HASH_PREFIX, InboxFile, Video
from storage.transitions import StagePlan, requeue


def requeue_described(db: Database, plans: Mapping[str, StagePlan], clips: Iterable[str]) -> int:
    """Re-queue `describe` (and its downstream stages) of the videos of these clip names;
    returns stage runs re-queued."""
    names = set(clips)
    if not names or "describe" not in plans:
        return 0
    with db.write() as session:
        videos = session.execute(select(Video.id, Video.name, Video.sha256)).all()
        ids = [v for v, name, sha in videos if name in names or HASH_PREFIX + sha in names]
        if not ids:
            return 0
        return requeue(session, plans, video_ids=ids, stages=["describe"])


def import_label_files(
    db: Database,
    plans: Mapping[str, StagePlan],
    paths: Iterable[Path],
    split: str | None = None,
    dry_run: bool = False,
) -> tuple[ImportReport, int]:
    """Import label files all or nothing; (the report, stage runs re-queued)."""
    report = import_labels(db, paths, split=split, dry_run=dry_run)
    requeued = 0 if dry_run else requeue_described(db, plans, report.touched)
    return report, requeued


def import_sidecar_labels(
    db: Database, plans: Mapping[str, StagePlan], path: Path, config: Config | None = None
) -> SidecarResult:
    """Import one `.labels.json` sidecar and re-queue what its labels change; `config`
    declares the target sets a sidecar may rate (without it, only First Impressions')."""
    result = import_sidecar(db, path, config)
    requeued = requeue_described(db, plans, result.touched)
    if requeued:
        message = f"{result.message}; {requeued} stage runs re-queued to quote its transcript"
        result = replace(result, message=message)
    rediarized = requeue_subject(db, plans, result.subject_clip)
    if rediarized:
        message = f"{result.message}; {rediarized} stage runs re-queued for the subject"
        result = replace(result, message=message)
    return result


def requeue_subject(db: Database, plans: Mapping[str, StagePlan], clip: str | None) -> int:
    """Re-queue `diarize` (and what follows) of the video a sidecar names the subject of:
    the video registered under that name or any inbox file of that name."""
    if clip is None or "diarize" not in plans:
        return 0
    with db.write() as session:
        ids = set(session.scalars(select(Video.id).where(Video.name == clip)))
        arrived = select(InboxFile.video_id).where(InboxFile.name == clip)
        ids |= {v for v in session.scalars(arrived) if v is not None}
        if not ids:
            return 0
        return requeue(session, plans, video_ids=sorted(ids), stages=["diarize"])
