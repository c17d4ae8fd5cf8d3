"""Read-only queries that several views share (`lprd status`, the dashboard): each view
formats the rows its own way."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import FAILED, StageRun, Video


def recent_failures(session: Session, limit: int) -> list[Any]:
    """The most recent failed stage runs, newest first: rows of (video_id, video name,
    stage, attempts, last_error, finished_at)."""
    return list(
        session.execute(
            select(
                Video.id,
                Video.name,
                StageRun.stage,
                StageRun.attempts,
                StageRun.last_error,
                StageRun.finished_at,
            )  # fmt: skip
            .join(Video, Video.id == StageRun.video_id)
            .where(StageRun.status == FAILED)
            .order_by(StageRun.finished_at.desc())
            .limit(limit)
        ).all()
    )


def baseline_accuracy(metrics_json: str | None) -> float | None:
    """The train-mean baseline's validation mean accuracy a model's metrics record (on
    the rows the model was scored on), or None when they hold none."""
    try:
        value = (json.loads(metrics_json or "{}").get("baseline") or {}).get("mean_accuracy")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
