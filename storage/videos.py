"""Videos: registration by content hash, lookup by id/hash/name, and forgetting."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from storage.db import dialect_insert, dialect_of, utcnow
from storage.models import (
    FORGET_DONE,
    FORGET_ERASING,
    HASH_PREFIX,
    SIDECAR_SUFFIX,
    Description,
    ForgottenVideo,
    InboxFile,
    Label,
    Meta,
    Prediction,
    StageRun,
    StudyLabel,
    Video,
)
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
    mtime: float | None = None,
) -> Registration:
    """INSERT OR IGNORE a video by content hash and create its stage rows when new.

    Ids are never reused, not even those of forgotten videos: a stale reference (a
    worker, a log line, an export) can never land on another video.
    """
    serialize_registrations(session)
    stmt = (
        dialect_insert(session)(Video)
        .values(
            id=_next_video_id(session),
            sha256=sha256,
            name=name,
            path=str(path),
            size_bytes=size_bytes,
            mtime=mtime,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(Video.id)
    )
    created = session.execute(stmt).scalar() is not None
    video = session.execute(select(Video).where(Video.sha256 == sha256)).scalar_one()
    if created:
        create_stage_runs(session, video.id, plans)
    return Registration(video.id, sha256, created, None if created else video.name)


VIDEO_ID_HIGH_WATER = "videos.highest_id_ever"
# Key of the PostgreSQL advisory lock that serializes registrations (see below).
REGISTRATION_LOCK = 0x6C707264  # "lprd"


def serialize_registrations(session: Session) -> None:
    """On PostgreSQL, take the registration lock until the transaction ends.

    New ids are the highest ever + 1 (never reused), so two hosts registering at the
    same moment must take turns; SQLite's write lock (`db.write()`) already does this.
    """
    if dialect_of(session) == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(REGISTRATION_LOCK)))


def _next_video_id(session: Session) -> int:
    highest = session.execute(select(func.max(Video.id))).scalar() or 0
    forgotten = session.execute(select(Meta.value).where(Meta.key == VIDEO_ID_HIGH_WATER)).scalar()
    return max(highest, int(forgotten or 0)) + 1


def _remember_forgotten(session: Session, video: Video, paths: Sequence[str]) -> None:
    """Keep the id's high-water mark, and the tombstone: the content hash of a forgotten
    video with every path still to delete (state `erasing`)."""
    high = session.execute(select(Meta.value).where(Meta.key == VIDEO_ID_HIGH_WATER)).scalar()
    value = str(max(video.id, int(high or 0)))
    insert = dialect_insert(session)
    stmt = insert(Meta).values(key=VIDEO_ID_HIGH_WATER, value=value)
    session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
    fields = {
        "name": video.name,
        "forgotten_at": utcnow(),
        "state": FORGET_ERASING,
        "video_id": video.id,
        "paths": json.dumps(list(paths)),
    }
    stmt = insert(ForgottenVideo).values(sha256=video.sha256, **fields)
    session.execute(stmt.on_conflict_do_update(index_elements=["sha256"], set_=fields))


def forgotten(session: Session, sha256: str) -> ForgottenVideo | None:
    """The record of a forgotten content, or None."""
    return session.get(ForgottenVideo, sha256)


def unforget(session: Session, sha256: str) -> None:
    """The user adds this content again on purpose: it may be ingested again."""
    session.execute(delete(ForgottenVideo).where(ForgottenVideo.sha256 == sha256))


def is_forgotten(session: Session, sha256: str) -> bool:
    """Whether this content is forgotten (being erased or erased) and has no video now."""
    if session.get(ForgottenVideo, sha256) is None:
        return False
    return session.execute(select(Video.id).where(Video.sha256 == sha256)).first() is None


def unfinished_forgets(session: Session, ref: str | None = None) -> list[ForgottenVideo]:
    """Forgets whose files may not all be deleted yet; with `ref`, those it names (the
    forgotten video's id, a sha256 prefix of at least 6 characters or its file name)."""
    query = select(ForgottenVideo).where(ForgottenVideo.state == FORGET_ERASING)
    if ref is not None:
        conditions = [ForgottenVideo.name == ref]
        if ref.isdigit():
            conditions.append(ForgottenVideo.video_id == int(ref))
        if len(ref) >= 6 and all(c in "0123456789abcdef" for c in ref.lower()):
            conditions.append(ForgottenVideo.sha256.startswith(ref.lower()))
        query = query.where(or_(*conditions))
    return list(session.scalars(query.order_by(ForgottenVideo.forgotten_at)))


def forget_paths(record: ForgottenVideo) -> list[str]:
    """The paths a tombstone names (empty once done)."""
    return list(json.loads(record.paths)) if record.paths else []


def finish_forget(session: Session, sha256: str) -> None:
    """Every file of the forgotten video is gone: keep only its hash (and name)."""
    session.execute(
        update(ForgottenVideo)
        .where(ForgottenVideo.sha256 == sha256)
        .values(state=FORGET_DONE, paths=None, video_id=None)
    )


class OriginalChanged(Exception):  # noqa: N818 - reads as what happened
    """The registered original is gone or now holds other content."""


def check_original(video: Video, path: Path) -> float | None:
    """Make sure `path` still holds exactly the registered content of `video`.

    Size and mtime decide cheaply; only when they differ is the file hashed again.
    Raises `OriginalChanged` with what a person can do; returns the new mtime when the
    file was only touched (same content), else None.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise OriginalChanged(
            f"the original file {path} is gone (deleted or moved after it was registered): "
            "put it back and `lprd retry` the video, or `lprd forget` it"
        ) from None
    if st.st_size == video.size_bytes and st.st_mtime == video.mtime:
        return None
    if st.st_size != video.size_bytes or sha256_of(path) != video.sha256:
        raise OriginalChanged(
            f"the file {path} was overwritten with other content after it was registered; "
            "the new content is registered as a video of its own, and this one's original "
            "is gone"
        )
    return st.st_mtime


def find_videos(session: Session, ref: str) -> list[Video]:
    """Videos matching an id, a sha256 prefix (at least 6 characters) or a file name."""
    conditions = [Video.name == ref]
    if ref.isdigit():
        conditions.append(Video.id == int(ref))
    if len(ref) >= 6 and all(c in "0123456789abcdef" for c in ref.lower()):
        conditions.append(Video.sha256.startswith(ref.lower()))
    return list(session.scalars(select(Video).where(or_(*conditions)).order_by(Video.id)))


def forget_video(session: Session, video_id: int, paths: Sequence[str] = ()) -> list[str]:
    """Delete every database row about a video and record its tombstone naming `paths`,
    the files the caller deletes next (then `finish_forget`).

    Labels that came with the video (a sidecar file), of any target set, go too; labels
    imported from a dataset file are kept. Returns the sources of the labels kept for
    its clip name.
    """
    video = session.get(Video, video_id)
    names = [video.name, HASH_PREFIX + video.sha256] if video is not None else []
    labels = session.scalars(select(Label).where(Label.clip_name.in_(names))).all()
    ratings = session.scalars(select(StudyLabel).where(StudyLabel.clip_name.in_(names))).all()
    kept = []
    for label in [*labels, *ratings]:
        if label.source.endswith(SIDECAR_SUFFIX):
            session.delete(label)
        elif label.source not in kept:
            kept.append(label.source)
    session.execute(delete(Prediction).where(Prediction.video_id == video_id))
    session.execute(delete(Description).where(Description.video_id == video_id))
    session.execute(delete(StageRun).where(StageRun.video_id == video_id))
    session.execute(delete(InboxFile).where(InboxFile.video_id == video_id))
    if video is not None:
        _remember_forgotten(session, video, paths)
    session.execute(delete(Video).where(Video.id == video_id))
    return kept
