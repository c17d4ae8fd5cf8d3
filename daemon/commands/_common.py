"""Helpers shared by the video-level commands."""

from __future__ import annotations

from daemon.config import Config
from daemon.errors import LprdError
from daemon.runtime.home import open_existing_home, prepare_home
from storage.db import Database
from storage.models import Video
from storage.videos import find_videos


def open_db(config: Config) -> Database:
    """Open (and if needed create or migrate) the database of this home: for commands
    that bring new data (`add`, `labels import`, `train`)."""
    return prepare_home(config)


def open_existing_db(config: Config) -> Database:
    """Open (and if needed migrate) the home's database, which must already exist and
    be initialised: read commands and those that act on recorded videos never create
    one (an empty or missing file is refused with what to do)."""
    return open_existing_home(config)


def resolve_video(db: Database, ref: str) -> Video:
    """Exactly one video for an id, sha256 prefix or file name, or a clear error."""
    with db.read() as session:
        videos = find_videos(session, ref)
    if not videos:
        raise LprdError(f"no video matches {ref!r} (give an id, a sha256 prefix or a file name)")
    if len(videos) > 1:
        listed = ", ".join(f"#{v.id} {v.name} {v.sha256[:12]}" for v in videos[:5])
        raise LprdError(f"{ref!r} matches {len(videos)} videos ({listed}); be more specific")
    return videos[0]
