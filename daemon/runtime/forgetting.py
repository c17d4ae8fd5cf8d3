"""Forgetting a video: a recorded erase of everything lprd stored about it, resumable.

One transaction deletes the video's rows and records its tombstone (`forgotten_videos`,
state `erasing`) naming every path to delete: the artifact folder (audio.wav included),
the report, lprd's copy of the original. Then the files go, then the tombstone is marked
`done` and keeps only the content hash and name (the inbox refuses that content again
unless it is `lprd add`ed). A forget killed in between is finished by the next
`lprd forget` of the same video, by `lprd forget --resume`, or by the next daemon start.
A stage still writing for the video cannot bring a file back: the store checks the
tombstone after each write it publishes (storage/artifacts.py).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from daemon.config import Config
from daemon.report import REPORTS_FOLDER, default_report_path
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import FORGET_DONE, ForgottenVideo, Video
from storage.videos import (
    finish_forget,
    forget_paths,
    forget_video,
    is_forgotten,
    unfinished_forgets,
)

log = logging.getLogger("lprd.forget")


@dataclass(frozen=True)
class Unfinished:
    """A forget whose files may not all be deleted yet."""

    sha256: str
    name: str
    video_id: int | None
    paths: tuple[str, ...]


def guarded_store(config: Config, db: Database, write_log: Path | None = None) -> ArtifactStore:
    """The artifact store with the reports folder, refusing to publish a forgotten video's
    files (see storage/artifacts.py)."""
    return ArtifactStore(
        config.store_dir,
        write_log=write_log,
        outside=(config.home_dir / REPORTS_FOLDER,),
        is_forgotten=lambda sha: _forgotten(db, sha),
    )


def _forgotten(db: Database, sha256: str) -> bool:
    with db.read() as session:
        return is_forgotten(session, sha256)


def video_files(
    config: Config, store: ArtifactStore, video: Video, keep_original: bool
) -> list[Path]:
    """Every path holding something of `video` that forget deletes."""
    paths = [store.video_dir(video.sha256), default_report_path(config.home_dir, video.sha256)]
    original = store.resolve_video_path(video.path)
    if original.is_relative_to(store.originals_dir()) and not keep_original:
        paths.append(original)
    return paths


def forget(
    db: Database, config: Config, store: ArtifactStore, video: Video, keep_original: bool
) -> list[str]:
    """Tombstone and rows in one transaction, then the files; returns the sources of
    the dataset labels kept for the clip name."""
    paths = video_files(config, store, video, keep_original)
    with db.write() as session:
        kept = forget_video(session, video.id, [str(p) for p in paths])
    _erase(db, store, video.sha256, [str(p) for p in paths])
    return kept


def resume(db: Database, store: ArtifactStore, ref: str | None = None) -> list[Unfinished]:
    """Finish the unfinished forgets (those `ref` names, or all); returns them."""
    with db.read() as session:
        todo = [
            Unfinished(r.sha256, r.name, r.video_id, tuple(forget_paths(r)))
            for r in unfinished_forgets(session, ref)
        ]
    for item in todo:
        _erase(db, store, item.sha256, list(item.paths))
        log.info("finished forgetting video #%s (%s)", item.video_id, item.sha256[:12])
    return todo


def sweep(db: Database, store: ArtifactStore) -> int:
    """At start-up: finish unfinished forgets and delete any file a killed writer left
    for a forgotten content; returns how many forgets were finished."""
    finished = len(resume(db, store))
    with db.read() as session:
        done = session.scalars(
            select(ForgottenVideo.sha256)
            .where(ForgottenVideo.state == FORGET_DONE)
            .where(ForgottenVideo.sha256.not_in(select(Video.sha256)))
        ).all()
    for sha in done:
        store.delete_video(sha)
    return finished


def _erase(db: Database, store: ArtifactStore, sha256: str, paths: list[str]) -> None:
    """Delete the paths (and any file of the video in the store), then mark it done."""
    for path in paths:
        erase_path(Path(path))
    store.delete_video(sha256)
    with db.write() as session:
        finish_forget(session, sha256)


def erase_path(path: Path) -> None:
    """Delete a file or a whole folder; nothing there is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
