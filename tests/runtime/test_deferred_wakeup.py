"""A stage deferred until a model is promoted runs as soon as one is: a promotion by
`lprd train` while no daemon runs makes the waiting runs due, so the next
`lprd run --until-idle` scores them instead of exiting with them still waiting."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from daemon.config import Config
from daemon.errors import StageDeferred
from daemon.learn import registry
from daemon.pipeline import Pipeline
from daemon.runtime.service import Daemon
from daemon.stages.base import Stage, StageContext, StageResult
from storage.db import Database
from storage.models import DONE, PENDING, StageRun
from storage.states import ErrorKind
from storage.videos import register_video

pytestmark = pytest.mark.both_backends


def scored(ctx: StageContext) -> StageResult:
    """Like predict: waits (ten minutes) until a model of the profile is promoted."""
    model = registry.promoted(ctx.db, "full")
    if model is None:
        raise StageDeferred("no model promoted yet", retry_after_s=600.0)
    return StageResult(data={"model": model.version}, backend="test")


PIPELINE = Pipeline([Stage("scored", scored, state_key=registry.promoted_versions)])


def _run_until_idle(config: Config) -> StageRun:
    assert Daemon(config, until_idle=True, pipeline=PIPELINE).run() == 0
    db = Database(config.database_url)
    with db.read() as session:
        run = session.scalars(select(StageRun)).one()
    db.dispose()
    return run


def _promote(db: Database, version: str) -> None:
    registry.register_candidate(
        db,
        version=version,
        kind="regression",
        base_model="tiny",
        template_version="t1",
        feature_profile="full",
        train_count=10,
        metrics={"baseline": {"mean_accuracy": 0.5}},
        val_mean_accuracy=0.9,
        path="/nowhere",
    )
    assert registry.promote_if_better(db, version).promoted


def test_a_promotion_wakes_the_run_waiting_for_a_model(config: Config, database: Database) -> None:
    config.workers.poll_interval_s = 0.2
    with database.write() as session:
        register_video(
            session, sha256="a" * 64, name="a.mp4", path="/x/a.mp4", size_bytes=1,
            plans=PIPELINE.plans.values(),
        )  # fmt: skip
    waiting = _run_until_idle(config)
    assert waiting.status == PENDING and waiting.error_kind == ErrorKind.WAITING
    assert waiting.next_attempt_at is not None, "deferred ten minutes"
    _promote(database, "m1")  # `lprd train` while no daemon runs
    run = _run_until_idle(config)
    assert run.status == DONE, (run.status, run.last_error)
    assert run.attempts == 1, "a deferral is not an attempt"
