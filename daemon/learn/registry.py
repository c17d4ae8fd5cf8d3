"""The model registry: candidates, the one promoted model per feature profile, retired ones.

Promotion happens in one `BEGIN IMMEDIATE` transaction and only when the candidate beats
both the promoted model and the train-mean baseline on validation; the partial unique
index on `state = 'promoted'` makes two promoted models of one profile impossible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.table import Table
from sqlalchemy import Select, select

from daemon.learn.backbone import LLM_HEADS
from storage.db import Database, utcnow
from storage.models import ModelVersion
from storage.states import ModelState
from storage.transitions import wake_waiting

CANDIDATE, PROMOTED, RETIRED = ModelState.CANDIDATE, ModelState.PROMOTED, ModelState.RETIRED


def promoted_query(profile: str | None = None) -> Select:
    """The promoted model versions: the one of `profile`, or one per profile."""
    query = select(ModelVersion).where(ModelVersion.state == PROMOTED)
    if profile is not None:
        query = query.where(ModelVersion.feature_profile == profile)
    return query


@dataclass(frozen=True)
class Decision:
    """Whether a candidate was promoted, and why."""

    promoted: bool
    reason: str


def register_candidate(db: Database, **fields: object) -> ModelVersion:
    """Insert a candidate model version (fields as in ModelVersion; metrics as a dict)."""
    metrics = fields.pop("metrics", None)
    row = ModelVersion(
        **fields,
        metrics_json=json.dumps(metrics) if metrics is not None else None,
        state=CANDIDATE,
        created_at=utcnow(),
    )
    with db.write() as session:
        session.add(row)
    return row


def baseline_accuracy(row: ModelVersion) -> float | None:
    """The train-mean baseline on the same validation clips the candidate was scored on."""
    metrics = json.loads(row.metrics_json or "{}")
    return (metrics.get("baseline") or {}).get("mean_accuracy")


def training_backend(row: ModelVersion) -> str:
    """What trained a model: unsloth or transformers + peft (with the reason when unsloth
    was not used) for the LLM heads, scikit-learn's ridge for the others."""
    fit = json.loads(row.metrics_json or "{}").get("fit") or {}
    if row.kind == "blend":
        return fit.get("backend", "blend")
    if "backend" not in fit:
        return "" if row.kind in LLM_HEADS else "scikit-learn ridge"
    where = f" on {fit['device']}" if fit.get("device") else ""
    dtype = f", {fit['dtype']}" if fit.get("dtype") else ""
    reason = f" ({fit['backend_reason']})" if fit.get("backend_reason") else ""
    return f"{fit['backend']}{where}{dtype}{reason}"


def promote_if_better(db: Database, version: str) -> Decision:
    """Promote `version` atomically if it beats the promoted model and the baseline."""
    with db.write() as session:
        cand = session.execute(
            select(ModelVersion).where(ModelVersion.version == version)
        ).scalar_one()
        if cand.val_mean_accuracy is None:
            return Decision(False, f"{version} has no validation score")
        base = baseline_accuracy(cand)
        if base is None or cand.val_mean_accuracy <= base:
            return Decision(
                False,
                f"{version} ({cand.val_mean_accuracy:.4f}) does not beat the train-mean "
                f"baseline ({base if base is None else f'{base:.4f}'})",
            )
        current = session.execute(promoted_query(cand.feature_profile)).scalar_one_or_none()
        if current is not None and (current.val_mean_accuracy or 0.0) >= cand.val_mean_accuracy:
            return Decision(
                False,
                f"{version} ({cand.val_mean_accuracy:.4f}) does not beat the promoted "
                f"{current.version} ({current.val_mean_accuracy:.4f})",
            )
        if current is not None:
            current.state = RETIRED
            session.flush()  # retire first: the partial unique index allows one promoted
        cand.state, cand.promoted_at = PROMOTED, utcnow()
        wake_waiting(session)  # predict deferred "no model promoted yet" is due now
        old = f", retiring {current.version}" if current is not None else ""
        return Decision(True, f"promoted {version} ({cand.val_mean_accuracy:.4f}){old}")


def promoted(db: Database, profile: str) -> ModelVersion | None:
    """The promoted model of a feature profile, if any."""
    with db.read() as session:
        return session.execute(promoted_query(profile)).scalar_one_or_none()


def promoted_versions(db: Database) -> dict[str, str]:
    """{feature profile: promoted version}; the predict stage's fingerprint input."""
    with db.read() as session:
        rows = session.scalars(promoted_query()).all()
    return dict(sorted((row.feature_profile, row.version) for row in rows))


def get_version(db: Database, version: str) -> ModelVersion | None:
    """One model version by name."""
    with db.read() as session:
        return session.execute(
            select(ModelVersion).where(ModelVersion.version == version)
        ).scalar_one_or_none()


def all_versions(db: Database) -> list[ModelVersion]:
    """Every model version, newest first."""
    with db.read() as session:
        return list(
            session.scalars(
                select(ModelVersion).order_by(
                    ModelVersion.created_at.desc(), ModelVersion.id.desc()
                )
            )
        )


STATE_STYLE = {PROMOTED: "bold green", CANDIDATE: "yellow", RETIRED: "dim"}


def model_versions_table(db: Database) -> Table:
    """One row per trained model version, for `lprd models`."""
    table = Table(title="trained models", title_justify="left")
    for col in (
        "version",
        "state",
        "head",
        "profile",
        "base model",
        "trained with",
        "train rows",
        "val acc",
        "baseline",
    ):
        table.add_column(col, overflow="fold")
    for row in all_versions(db):
        base = baseline_accuracy(row)
        table.add_row(
            row.version,
            f"[{STATE_STYLE.get(row.state, '')}]{row.state}[/]",
            row.kind,
            f"{row.feature_profile} (template {row.template_version})",
            row.base_model,
            training_backend(row),
            str(row.train_count),
            f"{row.val_mean_accuracy:.4f}" if row.val_mean_accuracy is not None else "",
            f"{base:.4f}" if base is not None else "",
        )
    if not table.row_count:
        table.caption = "none yet: import labels, then `lprd train`"
    return table
