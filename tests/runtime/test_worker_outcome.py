"""A runner outcome becomes the guarded transition the stage's retry policy calls for."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from daemon import runner
from daemon.pipeline import Pipeline
from daemon.runtime.worker import Services, record_outcome
from daemon.stages.base import RetryPolicy, Stage, StageResult
from storage import transitions as tr
from storage.db import Database, utcnow
from storage.models import StageRun
from storage.states import ErrorKind, RunOutcome, StageStatus
from storage.videos import register_video

pytestmark = pytest.mark.both_backends


def _never_called(_ctx) -> StageResult:
    raise AssertionError("record_outcome does not run the stage")


def _services(config, database: Database) -> Services:
    pipeline = Pipeline([Stage("flaky", _never_called, retry=RetryPolicy(max_attempts=2))])
    with database.write() as session:
        register_video(
            session, sha256="f" * 64, name="v.mp4", path="/x/v.mp4", size_bytes=1,
            plans=pipeline.plans.values(),
        )  # fmt: skip
    return Services(config, database, None, None, pipeline, {}, threading.Event())


def _row(database: Database) -> StageRun:
    with database.read() as session:
        return session.execute(select(StageRun)).scalar_one()


def _claim(database: Database) -> tr.ClaimedRun:
    with database.write() as session:
        return tr.claim_next(session, "cpu", "w")


def test_transient_failures_follow_the_stage_policy_and_the_configured_backoff(
    config, database
) -> None:
    config.workers.backoff_base_s = 120.0
    svc = _services(config, database)
    claimed = _claim(database)
    before = utcnow()
    record_outcome(svc, "w", claimed, runner.Outcome(RunOutcome.TRANSIENT, message="busy"))
    row = _row(database)
    assert (row.status, row.error_kind, row.max_attempts) == (
        StageStatus.PENDING,
        ErrorKind.TRANSIENT,
        2,
    )
    assert before + timedelta(seconds=119) < row.next_attempt_at < utcnow() + timedelta(seconds=121)
    with database.write() as session:
        session.get(StageRun, row.id).next_attempt_at = utcnow() - timedelta(seconds=1)
    claimed = _claim(database)
    record_outcome(svc, "w", claimed, runner.Outcome(RunOutcome.TRANSIENT, message="busy"))
    row = _row(database)
    assert (row.status, row.error_kind, row.attempts) == (
        StageStatus.FAILED,
        ErrorKind.EXHAUSTED,
        2,
    )


def test_deferred_and_stopped_runs_keep_their_attempt(config, database) -> None:
    svc = _services(config, database)
    claimed = _claim(database)
    outcome = runner.Outcome(RunOutcome.DEFERRED, message="no model yet", retry_after_s=60)
    record_outcome(svc, "w", claimed, outcome)
    row = _row(database)
    assert (row.status, row.error_kind, row.attempts) == (StageStatus.PENDING, "waiting", 0)
    with database.write() as session:
        session.get(StageRun, row.id).next_attempt_at = None
    claimed = _claim(database)
    record_outcome(svc, "w", claimed, runner.Outcome(RunOutcome.STOPPED))
    row = _row(database)
    assert (row.status, row.attempts, row.worker_id) == (StageStatus.PENDING, 0, None)
