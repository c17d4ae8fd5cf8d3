"""What `lprd status` reports, read from the database only (never imports torch)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from daemon.config import Config, WorkersConfig
from daemon.config.targets import BUILTIN_SET
from daemon.stages import registered_names
from daemon.targets import target_sets
from storage.db import Database, utcnow
from storage.meta import get_meta
from storage.models import (
    FILE_REJECTED,
    PENDING,
    RUNNING,
    STAGE_STATES,
    InboxFile,
    ModelVersion,
    StageCount,
    StageRun,
    StudyLabel,
    Video,
)
from storage.queries import baseline_accuracy, recent_failures
from storage.states import ErrorKind, ModelState
from storage.workers import overview as workers_overview

THROUGHPUT_WINDOW = timedelta(minutes=10)
DAEMON_ALIVE_KEY = "daemon_alive_at"


def _stage_counts(
    session,
    order: list[str],
    waiting_notes: list[dict[str, Any]],
    blocked_notes: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    counts: dict[str, dict[str, int]] = {}
    # stage_counts is maintained by triggers: constant time however many videos there are.
    for stage, status, n in session.execute(
        select(StageCount.stage, StageCount.status, StageCount.n)
    ):
        if n:
            counts.setdefault(stage, {})[status] = n
    waiting, blocked = _per_stage(waiting_notes), _per_stage(blocked_notes)
    stages = [s for s in order if s in counts] + sorted(set(counts) - set(order))
    return [
        {
            "stage": s,
            **{st: counts[s].get(st, 0) for st in STAGE_STATES},
            "waiting": waiting.get(s, 0),
            "blocked": blocked.get(s, 0),
        }
        for s in stages
    ]


def _throughput(session) -> tuple[int, float]:
    """Stage runs that ended (done, skipped or failed) in the window, and the rate per minute.

    A pure range count on the finished_at index: filtering on status as well made SQLite
    pick the status index and scan every finished row.
    """
    since = utcnow() - THROUGHPUT_WINDOW
    finished = session.execute(
        select(func.count()).select_from(StageRun).where(StageRun.finished_at >= since)
    ).scalar_one()
    return finished, finished / THROUGHPUT_WINDOW.total_seconds() * 60


def _failures(session, limit: int) -> list[dict[str, Any]]:
    return [
        {
            "video_id": v,
            "video": n,
            "stage": s,
            "error": e,
            "at": t.isoformat(timespec="seconds") if t else None,
        }
        for v, n, s, _attempts, e, t in recent_failures(session, limit)
    ]


def _inbox(session, limit: int) -> dict[str, Any]:
    states = dict(
        session.execute(select(InboxFile.state, func.count()).group_by(InboxFile.state)).all()
    )
    rejected = session.execute(
        select(InboxFile.name, InboxFile.reason)
        .where(InboxFile.state == FILE_REJECTED)
        .order_by(InboxFile.updated_at.desc())
        .limit(limit)
    ).all()
    return {"states": states, "rejected": [{"file": n, "reason": r} for n, r in rejected]}


def _pending_notes(session, kind: ErrorKind) -> list[dict[str, Any]]:
    """Pending runs of one kind (waiting, blocked), grouped by stage and reason."""
    rows = session.execute(
        select(StageRun.stage, StageRun.last_error, func.count())
        .where(StageRun.error_kind == kind, StageRun.status == PENDING)
        .group_by(StageRun.stage, StageRun.last_error)
    ).all()
    return [{"stage": s, "reason": r, "videos": n} for s, r, n in rows]


def _per_stage(notes: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for note in notes:
        totals[note["stage"]] = totals.get(note["stage"], 0) + note["videos"]
    return totals


def _models(session, config: Config | None) -> list[dict[str, Any]]:
    """The promoted models (one per target set and profile: a handful of rows), the
    built-in set's first, then the declared sets' in config order, then any other's."""
    rows = session.execute(
        select(
            ModelVersion.version,
            ModelVersion.target_set,
            ModelVersion.kind,
            ModelVersion.feature_profile,
            ModelVersion.val_mean_accuracy,
            ModelVersion.metrics_json,
            ModelVersion.promoted_at,
        ).where(ModelVersion.state == ModelState.PROMOTED)
    ).all()
    rank = {name: i for i, name in enumerate(target_sets(config))}
    rows = sorted(rows, key=lambda r: (rank.get(r[1], len(rank)), r[1] or "", r[3], r[0]))
    return [
        {
            "version": v,
            "target_set": s or BUILTIN_SET,
            "kind": k,
            "profile": p,
            "val_mean_accuracy": a,
            "val_baseline_mean_accuracy": baseline_accuracy(m),
            "promoted_at": t.isoformat(timespec="seconds") if t else None,
        }
        for v, s, k, p, a, m, t in rows
    ]


def _study_labels(session) -> dict[str, dict[str, int]]:
    """Per study target set with ratings: the clips rated and the ratings (one grouped
    query over the lab's own ratings, which are few)."""
    rows = session.execute(
        select(StudyLabel.target_set, func.count(func.distinct(StudyLabel.clip_name)), func.count())
        .group_by(StudyLabel.target_set)
        .order_by(StudyLabel.target_set)
    ).all()
    return {name: {"clips": clips, "ratings": ratings} for name, clips, ratings in rows}


def _training(db: Database, config: Config | None) -> dict[str, Any] | None:
    try:
        from daemon.learn.jobs.supervisor import training_status
    except ImportError:
        return None
    return training_status(db, config)


def _stale_after_s(config: Config | None) -> float:
    return (config.workers if config is not None else WorkersConfig()).stale_after_s


def gather_status(
    db: Database,
    pipeline_order: list[str] | None = None,
    limit: int = 5,
    config: Config | None = None,
) -> dict[str, Any]:
    """Everything `lprd status` shows, as plain data."""
    # The registry's order, by name: loading the stages would import numpy and PyAV.
    order = pipeline_order if pipeline_order is not None else registered_names()
    with db.read() as session:
        videos = session.execute(select(func.count()).select_from(Video)).scalar_one()
        waiting = _pending_notes(session, ErrorKind.WAITING)
        blocked = _pending_notes(session, ErrorKind.BLOCKED)
        stages = _stage_counts(session, order, waiting, blocked)
        finished, per_min = _throughput(session)
        report = {
            "videos": videos,
            "stages": stages,
            "throughput": {
                "finished_last_10_min": finished,
                "stage_runs_per_min": round(per_min, 2),
            },
            "failures": _failures(session, limit),
            "inbox": _inbox(session, limit),
            "waiting": waiting,
            "blocked": blocked,
            "models": _models(session, config),
            "study_labels": _study_labels(session),
            "workers": workers_overview(session, _stale_after_s(config)),
        }
    # Neither waiting nor blocked runs will run soon: they are not in the ETA.
    remaining = sum(s[PENDING] + s[RUNNING] - s["waiting"] - s["blocked"] for s in stages)
    report["remaining_stage_runs"] = remaining
    report["eta_s"] = round(remaining / per_min * 60) if per_min > 0 and remaining else None
    report["next_retrain_check_at"] = get_meta(db, "next_retrain_check_at")
    report["daemon_alive_at"] = get_meta(db, DAEMON_ALIVE_KEY)
    report["training"] = _training(db, config)
    return report
