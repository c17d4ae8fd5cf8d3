"""The official transcript of a clip, when a label file provided one."""

from __future__ import annotations

from sqlalchemy import select

from daemon.stages.base import StageContext


def official_transcript(ctx: StageContext) -> str | None:
    """`labels.transcript` for the video's clip name; None when absent or empty."""
    from storage.models import Label

    with ctx.db.read() as session:
        text = session.scalar(select(Label.transcript).where(Label.clip_name == ctx.video.name))
    return text.strip() if text and text.strip() else None
