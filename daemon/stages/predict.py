"""Stage `predict`: the promoted model scores the video's description.

Until a model is promoted for the description's feature profile the stage waits
(StageDeferred, no attempt used) and says what to do. The promoted versions are part of
the fingerprint, so a promotion re-queues predict for every video.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from daemon.config import Config
from daemon.errors import PermanentError, StageDeferred, StageSkipped
from daemon.stages.base import BackendInfo, Stage, StageContext, StageResult
from storage.db import utcnow
from storage.models import TARGETS, Description, Prediction
from storage.states import ModelState

DEFAULT_PROFILE = "full"


def _description(ctx: StageContext) -> tuple[str, str]:
    """(text, feature profile) of this video's description."""
    up = ctx.upstream("describe")
    if up.skipped:
        raise StageSkipped(f"no description to score: {up.reason}")
    text = up.data.get("text") or up.data.get("description")
    profile = up.data.get("feature_profile") or DEFAULT_PROFILE
    if text:
        return text, profile
    with ctx.db.read() as session:
        row = session.scalars(
            select(Description)
            .where(Description.video_id == ctx.video.id)
            .order_by(Description.created_at.desc())
        ).first()
    if row is None:
        raise PermanentError(
            f"describe recorded no text for this video; run `lprd retry {ctx.video.sha256[:12]} "
            "--stage describe`"
        )
    return row.text, row.feature_profile


def _save(ctx: StageContext, version: str, scores: dict[str, float]) -> None:
    values = {"video_id": ctx.video.id, "model_version": version, **scores}
    stmt = sqlite_insert(Prediction).values(**values, created_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=["video_id", "model_version"], set_={**scores, "created_at": utcnow()}
    )
    with ctx.db.write() as session:
        session.execute(stmt)


def run(ctx: StageContext) -> StageResult:
    """Score the description with the promoted model and store the prediction."""
    from daemon.learn.predictor import load_predictor
    from daemon.learn.registry import promoted

    text, profile = _description(ctx)
    model = promoted(ctx.db, profile)
    if model is None:
        raise StageDeferred(
            f"no model promoted yet for the '{profile}' profile: import labels "
            "(`lprd labels import`) and run `lprd train`",
            retry_after_s=600.0,
        )
    device = ctx.device()
    predictor = ctx.models.get(
        ("lprd-model", model.version, device), lambda: load_predictor(model.path, device)
    )
    scores = predictor.predict([text])[0]
    scores = {t: round(float(scores[t]), 6) for t in TARGETS}
    _save(ctx, model.version, scores)
    data: dict[str, Any] = {
        "scores": scores,
        "model_version": model.version,
        "head": model.kind,
        "base_model": model.base_model,
        "feature_profile": profile,
        "val_mean_accuracy": model.val_mean_accuracy,
    }
    summary = " ".join(f"{t[:3]} {scores[t]:.2f}" for t in TARGETS)
    return StageResult(data=data, backend=model.kind, model=model.version, summary=summary)


def _state_key(db: Any) -> dict[str, str]:
    from daemon.learn.registry import promoted_versions

    return promoted_versions(db)


def _backends(config: Config) -> list[BackendInfo]:
    if not config.database_path.exists():
        return []
    from daemon.learn.registry import promoted_versions
    from storage.db import Database

    db = Database.at(config.database_path)
    try:
        versions = promoted_versions(db)
    finally:
        db.dispose()
    if not versions:
        return [BackendInfo("predict", "none", "-", False, False, "no model promoted yet")]
    return [
        BackendInfo("predict", profile, version, True, True, ModelState.PROMOTED)
        for profile, version in versions.items()
    ]


STAGE = Stage(
    name="predict",
    run=run,
    requires=("describe",),
    resource="gpu",
    version="1",
    description="Big Five + interview scores from the promoted model",
    state_key=_state_key,
    backends=_backends,
)
