"""What lprd has recorded about one video: its stage runs, their outputs, its latest scores
of a target set.

Shared by `lprd show`, `lprd report` and the dashboard; reads the database and the artifact
store only (no models, no torch).
"""

from __future__ import annotations

from sqlalchemy import select

from daemon.config.targets import BUILTIN_SET
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import Prediction, StageRun
from storage.outputs import StageOutput
from storage.outputs import read_output as stored_output


def stage_runs(db: Database, video_id: int) -> list[StageRun]:
    """Every stage run of a video (detached rows, safe to read after the session)."""
    with db.read() as session:
        return list(session.scalars(select(StageRun).where(StageRun.video_id == video_id)))


def latest_prediction(
    db: Database, video_id: int, target_set: str = BUILTIN_SET
) -> Prediction | None:
    """The most recent prediction of a video on one target set (default First
    Impressions'), or None; never another set's, however much newer."""
    with db.read() as session:
        return session.execute(
            select(Prediction)
            .where(Prediction.video_id == video_id, Prediction.target_set == target_set)
            .order_by(Prediction.created_at.desc(), Prediction.id.desc())
            .limit(1)
        ).scalar_one_or_none()


def read_output(store: ArtifactStore, run: StageRun) -> StageOutput | None:
    """The output a stage run recorded, or None if it has none (or it is gone)."""
    return stored_output(store, run.stage, run.artifact)
