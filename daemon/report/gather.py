"""Collect what a report shows about one video: stage outputs, scores and the serving model.

Everything comes from the database and the artifact store (the same records `lprd show`
reads); nothing is computed by a model here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from daemon.config.targets import BUILTIN_SET
from daemon.video_record import read_output, stage_runs
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import Description, ModelVersion, StageRun, Video


@dataclass(frozen=True)
class StageView:
    """One stage as the report sees it: state, producer, data, and why it has no data."""

    stage: str
    status: str  # done / skipped / failed / pending / running / missing
    backend: str | None = None
    model: str | None = None
    note: str | None = None  # skip reason, error or waiting reason
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.status == "done" and bool(self.data)

    def unavailable(self) -> str:
        """A sentence saying why this stage has no data to show."""
        if self.status == "skipped":
            return f"{self.stage} was skipped: {self.note or 'no reason recorded'}"
        if self.status == "missing":
            return f"{self.stage} is not part of this video's pipeline"
        if self.status == "failed":
            return f"{self.stage} failed: {self.note or 'no message recorded'}"
        if self.status == "done":
            return f"{self.stage} recorded no output"
        detail = f" ({self.note})" if self.note else ""
        return f"{self.stage} has not run yet: {self.status}{detail}"


@dataclass
class ReportData:
    """Everything one report renders."""

    video: dict[str, Any]
    stages: dict[str, StageView]
    scores: dict[str, Any] | None
    # The text the serving model read, when its profile is not describe's (e.g. transcript-only).
    model_text: dict[str, str] | None = None
    # The scores of each study's target set (all but the built-in one), on its declared scale.
    study_sets: list[dict[str, Any]] = field(default_factory=list)


def _note(run: StageRun) -> str | None:
    if run.status == "skipped":
        return run.skip_reason
    if run.status == "failed" or run.error_kind in ("waiting", "transient"):
        return run.last_error
    return None


def stage_view(store: ArtifactStore, run: StageRun) -> StageView:
    """A stage run plus its recorded output."""
    output = read_output(store, run)
    return StageView(
        stage=run.stage,
        status=run.status,
        backend=run.backend or (output.backend if output else None),
        model=run.model or (output.model if output else None),
        note=_note(run) or (output.reason if output else None),
        data=output.data if output else {},
    )


def _model_row(db: Database, version: str | None) -> ModelVersion | None:
    if not version:
        return None
    with db.read() as session:
        return session.scalars(select(ModelVersion).where(ModelVersion.version == version)).first()


def scores_view(db: Database, predict: StageView | None, video_id: int) -> dict[str, Any] | None:
    """First Impressions' scores, intervals, reasons and the serving model; None when the
    video has none."""
    from daemon import results
    from daemon.targets import first_impressions

    data = dict(predict.data) if predict is not None and predict.usable else {}
    if not data.get("scores"):
        row = results.latest_by_set(db, video_id).get(BUILTIN_SET)
        if row is None:
            return None
        scores = results.scores_of(row, first_impressions())
        data = {
            **results.recorded_details(row),
            "scores": {t: v for t, v in scores.items() if v is not None},
            "model_version": row.model_version,
        }
    return _view(db, data)


def study_views(db: Database, video_id: int) -> list[dict[str, Any]]:
    """The latest prediction of each study's target set (not the built-in one) as
    `scores_view` gives it, on the set's declared scale, with the set itself
    ("target_set": as the prediction recorded it) and its train mean mapped onto the
    scale; in name order."""
    from daemon import results

    views = []
    latest = results.latest_by_set(db, video_id)
    for name in results.order_sets(latest):
        if name == BUILTIN_SET:
            continue
        row = latest[name]
        target_set = results.set_of_prediction(row)
        details = results.recorded_details(row)
        details.pop("train_mean", None)  # the model's, in unit space, is mapped below
        scores = results.scores_of(row, target_set)
        view = _view(db, {**details, "scores": scores, "model_version": row.model_version})
        unit_mean = view["train_mean"] if isinstance(view["train_mean"], dict) else {}
        view["train_mean"] = {
            t.name: t.from_unit(unit_mean[t.name])
            for t in target_set.targets
            if isinstance(unit_mean.get(t.name), int | float)
        }
        view["target_set"] = target_set
        views.append(view)
    return views


def _view(db: Database, data: dict[str, Any]) -> dict[str, Any]:
    """What the report shows of one set's scores: from the predict stage's data (or a
    prediction's details) and the serving model's row."""
    model = _model_row(db, data.get("model_version"))
    metrics = json.loads(model.metrics_json or "{}") if model is not None else {}
    baseline = (metrics.get("baseline") or {}).get("mean_accuracy")
    return {
        "scores": data["scores"],
        "intervals": data.get("intervals") or {},
        "interval_level": data.get("interval_level"),
        "reasons": data.get("reasons") or {},
        "train_mean": data.get("train_mean") or metrics.get("train_mean") or {},
        "model_version": data.get("model_version"),
        "head": data.get("head") or (model.kind if model is not None else None),
        "base_model": data.get("base_model") or (model.base_model if model else None),
        "feature_profile": data.get("feature_profile"),
        "val_mean_accuracy": _first(
            data.get("val_mean_accuracy"), model and model.val_mean_accuracy
        ),
        "val_baseline_mean_accuracy": _first(data.get("val_baseline_mean_accuracy"), baseline),
        "flags": data.get("flags") or [],
        "interval_withheld_because": data.get("interval_withheld_because"),
        "segments": len(data.get("segments") or []),
        "segments_counted": data.get("segments_counted"),
        "context_cuts": data.get("context_cuts") or [],
        "segment_context_cuts": data.get("segment_context_cuts") or {},
    }


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def model_text(
    db: Database, video: Video, describe: StageView | None, scores: dict[str, Any] | None
) -> dict[str, str] | None:
    """The description of the serving model's profile, if it is not the one describe wrote."""
    profile = (scores or {}).get("feature_profile")
    written = describe.data.get("feature_profile") if describe is not None else None
    if not profile or profile == written:
        return None
    with db.read() as session:
        row = session.scalars(
            select(Description).where(
                Description.clip_name == video.name, Description.feature_profile == profile
            )
        ).first()
    return {"profile": profile, "text": row.text} if row is not None else None


def gather(db: Database, store: ArtifactStore, video: Video, order: list[str]) -> ReportData:
    """Read everything the report of `video` shows."""
    runs = {run.stage: run for run in stage_runs(db, video.id)}
    stages = {
        name: stage_view(store, runs[name]) if name in runs else StageView(name, "missing")
        for name in order
    }
    scores = scores_view(db, stages.get("predict"), video.id)
    return ReportData(
        video={
            "id": video.id,
            "name": video.name,
            "sha256": video.sha256,
            "size_bytes": video.size_bytes,
            "path": video.path,
        },
        stages=stages,
        scores=scores,
        model_text=model_text(db, video, stages.get("describe"), scores),
        study_sets=study_views(db, video.id),
    )
