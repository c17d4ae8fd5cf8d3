"""Videos: registration by content hash, lookup by id/hash/name, and forgetting."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.db import utcnow
from storage.models import Description, InboxFile, Label, Prediction, StageRun, Video
from storage.transitions import StagePlan, create_stage_runs

HASH_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """Streaming sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Registration:
    """Result of registering content: the video and whether it was new."""

    video_id: int
    sha256: str
    created: bool
    existing_name: str | None = None


def register_video(
    session: Session,
    *,
    sha256: str,
    name: str,
    path: Path,
    size_bytes: int,
    plans: Iterable[StagePlan],
) -> Registration:
    """INSERT OR IGNORE a video by content hash and create its stage rows when new."""
    stmt = (
        sqlite_insert(Video)
        .values(
            sha256=sha256, name=name, path=str(path), size_bytes=size_bytes, created_at=utcnow()
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    created = session.execute(stmt).rowcount == 1
    video = session.execute(select(Video).where(Video.sha256 == sha256)).scalar_one()
    if created:
        create_stage_runs(session, video.id, plans)
    return Registration(video.id, sha256, created, None if created else video.name)


def find_videos(session: Session, ref: str) -> list[Video]:
    """Videos matching an id, a sha256 prefix (at least 6 characters) or a file name."""
    conditions = [Video.name == ref]
    if ref.isdigit():
        conditions.append(Video.id == int(ref))
    if len(ref) >= 6 and all(c in "0123456789abcdef" for c in ref.lower()):
        conditions.append(Video.sha256.startswith(ref.lower()))
    return list(session.scalars(select(Video).where(or_(*conditions)).order_by(Video.id)))


SIDECAR_SUFFIX = ".labels.json"


def forget_video(session: Session, video_id: int) -> list[str]:
    """Delete every database row about a video (the caller deletes its files).

    Labels that came with the video (a sidecar file) go too; labels imported from a
    dataset file are kept. Returns the sources of the labels kept for its clip name.
    """
    video = session.get(Video, video_id)
    names = [video.name, f"sha256:{video.sha256}"] if video is not None else []
    labels = session.scalars(select(Label).where(Label.clip_name.in_(names))).all()
    kept = []
    for label in labels:
        if label.source.endswith(SIDECAR_SUFFIX):
            session.delete(label)
        else:
            kept.append(label.source)
    session.execute(delete(Prediction).where(Prediction.video_id == video_id))
    session.execute(delete(Description).where(Description.video_id == video_id))
    session.execute(delete(StageRun).where(StageRun.video_id == video_id))
    session.execute(delete(InboxFile).where(InboxFile.video_id == video_id))
    session.execute(delete(Video).where(Video.id == video_id))
    return kept
