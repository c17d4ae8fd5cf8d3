"""The dashboard's reads: a keyset-paged video list with state filter and name search,
failures, model versions and training runs. Read-only; cost per page does not grow with
the number of videos (each page walks the id index from a cursor).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, literal_column, not_, select

from daemon.config.targets import BUILTIN_SET
from storage.db import Database, dialect_of
from storage.models import (
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED,
    Description,
    ModelVersion,
    Prediction,
    StageCount,
    StageRun,
    TrainingRun,
    Video,
)
from storage.queries import baseline_accuracy, recent_failures

# A video's state is its "worst" stage: failed, else running, else pending, else done.
VIDEO_STATES = (FAILED, RUNNING, PENDING, DONE)
# Up to this many stage rows, a filter lists the matching video ids from the status index;
# beyond it the state is common enough that walking videos newest-first finds a page fast.
LIST_MAX_ROWS = 5_000


def _probe(session, *statuses: str):  # a SQL expression
    """Per-video check through the (video_id, stage) index. On SQLite the unary `+` keeps
    it from using the status index here, which would scan every row of that status per
    video (PostgreSQL has no such operator on text, nor the need)."""
    status = StageRun.status
    if dialect_of(session) == "sqlite":
        status = literal_column(f"+{StageRun.__tablename__}.status", type_=StageRun.status.type)
    return exists().where(StageRun.video_id == Video.id, status.in_(statuses))


def _listed(*conditions: Any):  # a SQL expression
    return Video.id.in_(select(StageRun.video_id).where(*conditions))


def _has(session, rows: dict[str, int], status: str):  # a SQL expression
    return (
        _listed(StageRun.status == status)
        if rows.get(status, 0) <= LIST_MAX_ROWS
        else _probe(session, status)
    )


def _status_rows(session) -> dict[str, int]:
    """Stage rows per status, from the trigger-maintained counts (constant time)."""
    stmt = select(StageCount.status, func.sum(StageCount.n)).group_by(StageCount.status)
    return {status: int(n or 0) for status, n in session.execute(stmt)}


def state_condition(session, state: str, last_stage: str | None = None):
    """SQL condition selecting videos whose overall state is `state`, planned for speed."""
    rows = _status_rows(session)
    if state == FAILED:
        return _has(session, rows, FAILED)
    if state == RUNNING:
        return and_(_has(session, rows, RUNNING), not_(_probe(session, FAILED)))
    if state == PENDING:
        return and_(_has(session, rows, PENDING), not_(_probe(session, FAILED, RUNNING)))
    if state == DONE:
        unfinished = not_(_probe(session, PENDING, RUNNING, FAILED))
        if last_stage is None:
            return unfinished
        finished = session.execute(
            select(func.coalesce(func.sum(StageCount.n), 0)).where(
                StageCount.stage == last_stage, StageCount.status.in_((DONE, SKIPPED))
            )
        ).scalar_one()
        if finished > LIST_MAX_ROWS:
            return unfinished
        # A finished video has finished its last stage: list those, then check the rest.
        return and_(
            _listed(StageRun.stage == last_stage, StageRun.status.in_((DONE, SKIPPED))), unfinished
        )
    raise ValueError(f"unknown video state {state!r}; known: {', '.join(VIDEO_STATES)}")


@dataclass(frozen=True)
class VideoPage:
    """One page of the video list, newest first, with the cursors of its neighbours."""

    rows: list[dict[str, Any]]
    before: int | None  # cursor of the next (older) page, None on the last page
    after: int | None  # cursor of the previous (newer) page, None on the first page
    total: int | None  # videos in the whole list when cheap to know (no filter), else None


def _conditions(
    session,
    state: str | None,
    query: str | None,
    last_stage: str | None,
) -> list[Any]:
    conditions = []
    if state:
        conditions.append(state_condition(session, state, last_stage))
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        # SQLite's LIKE ignores ASCII case; PostgreSQL's does not, its ILIKE does.
        if dialect_of(session) == "postgresql":
            conditions.append(Video.name.ilike(pattern, escape="\\"))
        else:
            conditions.append(Video.name.like(pattern, escape="\\"))
    return conditions


def video_page(
    db: Database,
    size: int,
    state: str | None = None,
    query: str | None = None,
    before: int | None = None,
    after: int | None = None,
    last_stage: str | None = None,
    set_order: Sequence[str] = (),
) -> VideoPage:
    """Videos older than `before` (or newer than `after`), `size` per page, newest first.

    `last_stage` (the pipeline's final stage) lets the `done` filter start from the videos
    that finished it. Each row's `flags` are those of its First Impressions scores; `sets`
    names each study target set it was scored on (in `set_order`, then by name) with that
    set's own flags."""
    cols = (Video.id, Video.name, Video.sha256, Video.size_bytes, Video.created_at)
    with db.read() as session:
        conditions = _conditions(session, state, query, last_stage)
        stmt = select(*cols).where(*conditions)
        if after is not None:
            stmt = stmt.where(Video.id > after).order_by(Video.id.asc())
        else:
            if before is not None:
                stmt = stmt.where(Video.id < before)
            stmt = stmt.order_by(Video.id.desc())
        rows = session.execute(stmt.limit(size + 1)).all()
        more = len(rows) > size
        rows = rows[:size]
        if after is not None:
            rows.reverse()
        if after is None:
            older = more
            newer = bool(rows) and before is not None
            newer = newer and _exists(session, conditions, Video.id > rows[0].id)
        else:
            newer = more
            older = bool(rows) and _exists(session, conditions, Video.id < rows[-1].id)
        progress = _progress(session, [r.id for r in rows])
        flags, sets = _scored_sets(session, [r.id for r in rows], set_order)
        total = None
        if not conditions:
            total = session.execute(select(func.count()).select_from(Video)).scalar_one()
    return VideoPage(
        rows=[
            {
                **_row(r, progress.get(r.id, {})),
                "flags": flags.get(r.id, []),
                "sets": sets.get(r.id, []),
            }
            for r in rows
        ],
        before=rows[-1].id if rows and older else None,
        after=rows[0].id if rows and newer else None,
        total=total,
    )


def _exists(session, conditions: list[Any], bound: Any) -> bool:
    """Whether a video matching `conditions` lies beyond `bound` (an id comparison)."""
    return session.execute(select(Video.id).where(*conditions, bound).limit(1)).first() is not None


def _progress(session, ids: list[int]) -> dict[int, dict[str, int]]:
    """video id -> {stage status: count} for the listed videos only."""
    counts: dict[int, dict[str, int]] = {}
    if not ids:
        return counts
    stmt = (
        select(StageRun.video_id, StageRun.status, func.count())
        .where(StageRun.video_id.in_(ids))
        .group_by(StageRun.video_id, StageRun.status)
    )
    for vid, status, n in session.execute(stmt):
        counts.setdefault(vid, {})[status] = n
    return counts


def _latest_by_set(session, ids: list[int]) -> dict[tuple[int, str], int]:
    """(video id, target set) -> the id of that set's latest prediction of the video, for
    the listed videos only (the id index of predictions, no details read)."""
    latest: dict[tuple[int, str], tuple[Any, int]] = {}
    stmt = select(
        Prediction.video_id, Prediction.target_set, Prediction.created_at, Prediction.id
    ).where(Prediction.video_id.in_(ids))
    for vid, set_name, created, pid in session.execute(stmt):
        key = (vid, set_name or BUILTIN_SET)
        if key not in latest or (created, pid) > latest[key]:
            latest[key] = (created, pid)
    return {key: pid for key, (_created, pid) in latest.items()}


def _reasons(details: str | None) -> list[str]:
    """The out-of-range reasons a prediction's details record ([] when none or unreadable)."""
    try:
        found = json.loads(details or "{}").get("flags") or []
    except (ValueError, AttributeError):
        return []
    if not isinstance(found, list):
        return []
    return [str(f.get("reason")) for f in found if isinstance(f, dict)]


def _scored_sets(
    session, ids: list[int], set_order: Sequence[str] = ()
) -> tuple[dict[int, list[str]], dict[int, list[dict[str, Any]]]]:
    """For the listed videos: the out-of-range reasons of the latest First Impressions
    prediction (video id -> reasons), and each study set the video has a prediction of
    (video id -> [{"name", "model_version", "flags"}], built-in first, then `set_order`,
    then by name), each from that set's own latest prediction, never another set's."""
    if not ids:
        return {}, {}
    latest = _latest_by_set(session, ids)
    if not latest:
        return {}, {}
    rows = session.execute(
        select(Prediction.id, Prediction.model_version, Prediction.details_json).where(
            Prediction.id.in_(list(latest.values()))
        )
    ).all()
    found = {pid: (version, _reasons(details)) for pid, version, details in rows}
    rank = {name: i for i, name in enumerate(set_order)}
    flags: dict[int, list[str]] = {}
    sets: dict[int, list[dict[str, Any]]] = {}
    for (vid, set_name), pid in sorted(
        latest.items(), key=lambda kv: (rank.get(kv[0][1], len(rank)), kv[0][1])
    ):
        version, reasons = found.get(pid, (None, []))
        if set_name == BUILTIN_SET:
            if reasons:
                flags[vid] = reasons
            continue
        sets.setdefault(vid, []).append(
            {"name": set_name, "model_version": version, "flags": reasons}
        )
    return flags, sets


def overall_state(counts: dict[str, int]) -> str:
    """The state the list shows for a video, from its stage-status counts."""
    return next((s for s in (FAILED, RUNNING, PENDING) if counts.get(s)), DONE)


def _row(r: Any, counts: dict[str, int]) -> dict[str, Any]:
    finished = counts.get(DONE, 0) + counts.get(SKIPPED, 0)
    return {
        "id": r.id,
        "name": r.name,
        "sha256": r.sha256,
        "size_bytes": r.size_bytes,
        "created_at": r.created_at.isoformat(sep=" ", timespec="seconds"),
        "state": overall_state(counts),
        "finished": finished,
        "stages": sum(counts.values()),
        "skipped": counts.get(SKIPPED, 0),
    }


def failures(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """The most recent failed stage runs with their messages."""
    with db.read() as session:
        rows = recent_failures(session, limit)
    return [
        {
            "video_id": v, "video": n, "stage": s, "attempts": a, "error": e,
            "at": t.isoformat(sep=" ", timespec="seconds") if t else "",
        }
        for v, n, s, a, e, t in rows
    ]  # fmt: skip


def model_versions(db: Database) -> list[dict[str, Any]]:
    """Every trained model version, oldest first, with its target set, validation and
    baseline accuracy."""
    with db.read() as session:
        rows = session.scalars(select(ModelVersion).order_by(ModelVersion.created_at)).all()
    out = []
    for row in rows:
        out.append(
            {
                "version": row.version,
                "state": row.state,
                "kind": row.kind,
                "target_set": row.target_set or BUILTIN_SET,
                "profile": row.feature_profile,
                "base_model": row.base_model,
                "train_count": row.train_count,
                "val_mean_accuracy": row.val_mean_accuracy,
                "baseline": baseline_accuracy(row.metrics_json),
                "created_at": row.created_at.isoformat(sep=" ", timespec="seconds"),
                "created_ts": row.created_at.timestamp(),
            }
        )
    return out


def training_runs(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """The most recent training runs, newest first."""
    with db.read() as session:
        rows = session.scalars(
            select(TrainingRun).order_by(TrainingRun.started_at.desc()).limit(limit)
        ).all()
    return [
        {
            "id": r.id,
            "status": r.status,
            "trigger": r.trigger,
            "labelled_count": r.labelled_count,
            "model_version": r.model_version,
            "error": r.error,
            "started_at": r.started_at.isoformat(sep=" ", timespec="seconds"),
            "finished_at": r.finished_at.isoformat(sep=" ", timespec="seconds")
            if r.finished_at
            else "",
        }
        for r in rows
    ]


def report_signature(session, video: Video) -> tuple[Any, ...]:
    """What a rendered report of `video` depends on in the database: the video row, each
    stage run's state and last update, its predictions and its descriptions. Any change to
    a stage's output, a new prediction or a rewritten description changes it."""
    runs = session.execute(
        select(StageRun.stage, StageRun.status, StageRun.updated_at, StageRun.attempts)
        .where(StageRun.video_id == video.id)
        .order_by(StageRun.stage)
    ).all()
    predictions = session.execute(
        select(func.count(Prediction.id), func.max(Prediction.id)).where(
            Prediction.video_id == video.id
        )
    ).one()
    descriptions = session.execute(
        select(func.count(Description.id), func.max(Description.created_at)).where(
            Description.clip_name == video.name
        )
    ).one()
    return (
        (video.id, video.sha256, video.name, video.path, video.subject_speaker),
        tuple(tuple(run) for run in runs),
        tuple(predictions),
        tuple(descriptions),
    )
