"""The model registry: candidates, the one promoted model per (target set, feature
profile), retired ones. A model is only ever compared with, and served for, its own set.

Promotion happens in one `BEGIN IMMEDIATE` transaction and only when the candidate beats
both the promoted model and the train-mean baseline on validation; the partial unique
index on `state = 'promoted'` makes two promoted models of one profile impossible.

Like is compared with like: the baseline is always on the candidate's own validation rows,
and when either the candidate or the promoted model was scored on a sample of the
validation rows (an LLM head under a time budget, see scoring_plan.py), the two are
compared on the rows both scored (their saved scores, against the labels), not on their
headline figures, which are on different rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from daemon.errors import LprdError
from daemon.learn.backbone import LLM_HEADS
from storage.db import Database, utcnow
from storage.models import BUILTIN_SET, TARGETS, Label, ModelVersion
from storage.queries import baseline_accuracy as recorded_baseline
from storage.states import ModelState
from storage.transitions import wake_waiting

CANDIDATE, PROMOTED, RETIRED = ModelState.CANDIDATE, ModelState.PROMOTED, ModelState.RETIRED
MIN_SHARED_ROWS = 50  # fewer rows both scored: compare the headline figures instead


def promoted_query(profile: str | None = None, target_set: str | None = BUILTIN_SET) -> Select:
    """The promoted model versions of a target set (None: of every set): the one of
    `profile`, or one per profile."""
    query = select(ModelVersion).where(ModelVersion.state == PROMOTED)
    if target_set is not None:
        query = query.where(ModelVersion.target_set == target_set)
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
    return recorded_baseline(row.metrics_json)


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


def report_rows(row: ModelVersion) -> tuple[int, int] | None:
    """(validation rows scored, of how many) when the model was scored on a sample of its
    validation rows, else None."""
    rows = json.loads(row.metrics_json or "{}").get("report_rows") or {}
    scored, of = rows.get("scored"), rows.get("of")
    return (scored, of) if scored is not None and of is not None and scored < of else None


def shared_figures(
    session: Session, cand: ModelVersion, current: ModelVersion
) -> tuple[float, float, int] | None:
    """(candidate's, promoted model's mean accuracy, rows) on the validation rows both
    scored, when either scored a sample; None when neither did or they share too few."""
    from daemon.learn.metrics import evaluate
    from daemon.learn.predictions import REPORT, load_predictions

    if report_rows(cand) is None and report_rows(current) is None:
        return None
    if cand.target_set != BUILTIN_SET:  # a study's rows are few: never sampled
        return None
    mine, theirs = (load_predictions(Path(r.path), REPORT) for r in (cand, current))
    shared = sorted(set(mine) & set(theirs))
    labels = {
        label.clip_name: {t: getattr(label, t) for t in TARGETS}
        for label in session.scalars(select(Label).where(Label.clip_name.in_(shared)))
    }
    clips = [c for c in shared if c in labels and None not in labels[c].values()]
    if len(clips) < MIN_SHARED_ROWS:
        return None
    truth = [labels[c] for c in clips]
    a = evaluate([mine[c] for c in clips], truth)["mean_accuracy"]
    b = evaluate([theirs[c] for c in clips], truth)["mean_accuracy"]
    return a, b, len(clips)


def _beats_current(session: Session, cand: ModelVersion, current: ModelVersion) -> Decision:
    """Whether `cand` beats the promoted `current`, on the rows both scored when either
    scored a sample of the validation rows, else on their validation figures."""
    shared = shared_figures(session, cand, current)
    if shared is None:
        mine, theirs, where = cand.val_mean_accuracy, current.val_mean_accuracy or 0.0, ""
    else:
        mine, theirs, rows = shared
        where = f" on the {rows} validation rows both scored"
    if theirs >= mine:
        return Decision(
            False,
            f"{cand.version} ({mine:.4f}) does not beat the promoted {current.version} "
            f"({theirs:.4f}){where}",
        )
    return Decision(True, f" ({mine:.4f} vs {theirs:.4f}{where})" if where else "")


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
        current = session.execute(
            promoted_query(cand.feature_profile, cand.target_set)
        ).scalar_one_or_none()
        versus = ""
        if current is not None:
            decision = _beats_current(session, cand, current)
            if not decision.promoted:
                return decision
            versus = decision.reason
            current.state = RETIRED
            session.flush()  # retire first: the partial unique index allows one promoted
        cand.state, cand.promoted_at = PROMOTED, utcnow()
        wake_waiting(session)  # predict deferred "no model promoted yet" is due now
        old = f", retiring {current.version}{versus}" if current is not None else ""
        return Decision(True, f"promoted {version} ({cand.val_mean_accuracy:.4f}){old}")


def retire(db: Database, version: str) -> str:
    """Stop serving the promoted model `version` (e.g. of a set the study dropped): its
    (set, profile) has no promoted model until a training promotes one. What it already
    predicted stays. LprdError for an unknown or not promoted version."""
    with db.write() as session:
        row = session.execute(
            select(ModelVersion).where(ModelVersion.version == version)
        ).scalar_one_or_none()
        if row is None:
            raise LprdError(f"no model version {version!r}; `lprd models` lists them")
        if row.state != PROMOTED:
            raise LprdError(f"{version} is {row.state}, not promoted: it serves nothing")
        row.state = RETIRED
        where = f"the {row.feature_profile} profile of the {row.target_set} set"
    return (
        f"retired {version}: {where} has no promoted model until `lprd train` promotes "
        "one; its predictions already stored stay"
    )


def promoted(db: Database, profile: str, target_set: str = BUILTIN_SET) -> ModelVersion | None:
    """The promoted model of a feature profile of a target set, if any."""
    with db.read() as session:
        return session.execute(promoted_query(profile, target_set)).scalar_one_or_none()


def promoted_sets(db: Database) -> list[str]:
    """The target sets with a promoted model, the built-in set first."""
    with db.read() as session:
        names = set(session.scalars(promoted_query(target_set=None).with_only_columns(
            ModelVersion.target_set
        )))  # fmt: skip
    return sorted(names, key=lambda n: (n != BUILTIN_SET, n))


def promoted_versions(db: Database) -> dict[str, str]:
    """{feature profile: promoted version} of every set (a study's profiles as
    'set/profile'); the predict stage's fingerprint input."""
    with db.read() as session:
        rows = session.scalars(promoted_query(target_set=None)).all()
    return dict(
        sorted(
            (
                row.feature_profile
                if row.target_set == BUILTIN_SET
                else f"{row.target_set}/{row.feature_profile}",
                row.version,
            )
            for row in rows
        )
    )


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
            _profile(row),
            row.base_model,
            training_backend(row),
            str(row.train_count),
            _val_accuracy(row),
            f"{base:.4f}" if base is not None else "",
        )
    if not table.row_count:
        table.caption = "none yet: import labels, then `lprd train`"
    return table


def _profile(row: ModelVersion) -> str:
    """'transcript_only (template 6)', with a study's set: 'hiring: transcript_only ...'."""
    where = "" if row.target_set == BUILTIN_SET else f"{row.target_set}: "
    return f"{where}{row.feature_profile} (template {row.template_version})"


def _val_accuracy(row: ModelVersion) -> str:
    """The validation figure: "0.8850", or "0.8850 (300/2000 rows)" for a sample."""
    if row.val_mean_accuracy is None:
        return ""
    sampled = report_rows(row)
    rows = f" ({sampled[0]}/{sampled[1]} rows)" if sampled else ""
    return f"{row.val_mean_accuracy:.4f}{rows}"
