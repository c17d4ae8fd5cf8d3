"""Make a video's report: gather its records, render the page, write it atomically."""

from __future__ import annotations

from pathlib import Path

from daemon.report.gather import gather
from daemon.report.render import render_report, report_thumbs
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import Video


def report_html(
    db: Database, store: ArtifactStore, video: Video, order: list[str], nav: str | None = None
) -> str:
    """The report page of `video` as HTML (reads the database, the store and the video file)."""
    report = gather(db, store, video, order)
    thumbs = report_thumbs(report, store.resolve_video_path(video.path))
    return render_report(report, thumbs, nav=nav)


def write_report(store: ArtifactStore, target: Path, html: str) -> int:
    """Write the page atomically; returns its size in bytes."""
    data = html.encode("utf-8")
    with store.atomic_path(target) as partial:
        partial.write_bytes(data)
    return len(data)
