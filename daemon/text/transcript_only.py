"""Transcript-only descriptions: records built from official transcripts alone.

They let the labelled First Impressions transcripts train a model before any video is
processed. They carry their own feature profile, `transcript_only`, so they are never
mixed with full descriptions of processed videos.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from daemon.text.describe import (
    PROFILE_TRANSCRIPT_ONLY,
    TEMPLATE_VERSION,
    transcript_only_description,
)
from storage.db import Database, utcnow
from storage.models import Description, Label


def build_transcript_descriptions(
    db: Database, splits: Iterable[str] | None = None, max_tokens: int = 1024
) -> int:
    """Write (or refresh) a transcript-only description for every label with a transcript.

    Returns how many descriptions were created or changed; running it again with the same
    labels and template changes nothing and returns 0.
    """
    wanted = set(splits) if splits is not None else None
    with db.write() as session:
        labels = session.scalars(select(Label).where(Label.transcript.is_not(None))).all()
        existing = {
            d.clip_name: d
            for d in session.scalars(
                select(Description).where(Description.feature_profile == PROFILE_TRANSCRIPT_ONLY)
            )
        }
        written = 0
        for label in labels:
            if wanted is not None and label.split not in wanted:
                continue
            text = transcript_only_description(label.transcript, max_tokens=max_tokens)
            row = existing.get(label.clip_name)
            if row is None:
                session.add(_new(label.clip_name, text))
            elif row.text != text or row.template_version != TEMPLATE_VERSION:
                row.text, row.template_version, row.created_at = text, TEMPLATE_VERSION, utcnow()
            else:
                continue
            written += 1
    return written


def _new(clip_name: str, text: str) -> Description:
    return Description(
        video_id=None,
        clip_name=clip_name,
        feature_profile=PROFILE_TRANSCRIPT_ONLY,
        template_version=TEMPLATE_VERSION,
        text=text,
        created_at=utcnow(),
    )
