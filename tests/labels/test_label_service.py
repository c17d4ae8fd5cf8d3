"""Labels that arrive or change after a video was described re-queue `describe` the same
way, from `lprd labels import` or from a sidecar in the inbox."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.labels.service import import_label_files
from daemon.pipeline import Pipeline
from daemon.runtime.inbox import Inbox, unreadable_reason
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import TARGETS, StageRun
from storage.states import FileState, StageStatus
from storage.transitions import downstream_of
from storage.videos import register_video

CLIP = "abcdefghijk.002.mp4"
SCORES = dict.fromkeys(TARGETS, 0.5)


def _described_video(database: Database, pipeline: Pipeline) -> int:
    """A video whose every stage is done, as if it had been analysed and described."""
    with database.write() as session:
        reg = register_video(
            session, sha256="d" * 64, name=CLIP, path="/x/" + CLIP, size_bytes=1,
            plans=pipeline.plans.values(),
        )  # fmt: skip
        for run in session.scalars(select(StageRun).where(StageRun.video_id == reg.video_id)):
            run.status, run.waiting_on = StageStatus.DONE, 0
    return reg.video_id


def _states(database: Database, video_id: int) -> dict[str, str]:
    with database.read() as session:
        runs = session.scalars(select(StageRun).where(StageRun.video_id == video_id))
        return {run.stage: run.status for run in runs}


def _sidecar(folder: Path, transcript: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{CLIP}.labels.json"
    path.write_text(json.dumps({**SCORES, "transcript": transcript}))
    return path


def test_a_new_or_changed_sidecar_requeues_describe(config, database):
    pipeline = Pipeline.default()
    video_id = _described_video(database, pipeline)
    inbox = Inbox(config, database, ArtifactStore(config.store_dir), pipeline)
    verdict = inbox.register_now(_sidecar(config.inbox_dir, "the first words"))
    assert verdict.state == FileState.SIDECAR
    assert "stage runs re-queued" in verdict.reason
    states = _states(database, video_id)
    assert states["describe"] == states["predict"] == StageStatus.PENDING
    assert states["transcribe"] == StageStatus.DONE
    # Described again, then the sidecar changes: describe runs once more.
    with database.write() as session:
        for run in session.scalars(select(StageRun).where(StageRun.video_id == video_id)):
            run.status, run.waiting_on = StageStatus.DONE, 0
    verdict = inbox.register_now(_sidecar(config.inbox_dir, "corrected words"))
    assert "imported (updated)" in verdict.reason
    assert _states(database, video_id)["describe"] == StageStatus.PENDING
    # An unchanged sidecar re-queues nothing.
    with database.write() as session:
        for run in session.scalars(select(StageRun).where(StageRun.video_id == video_id)):
            run.status, run.waiting_on = StageStatus.DONE, 0
    verdict = inbox.register_now(_sidecar(config.inbox_dir, "corrected words"))
    assert verdict.reason == f"labels for {CLIP} imported (unchanged)"
    assert set(_states(database, video_id).values()) == {StageStatus.DONE}


def test_label_files_requeue_once_and_a_dry_run_does_not(config, database, tmp_path):
    pipeline = Pipeline.default()
    video_id = _described_video(database, pipeline)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([{"clip_name": CLIP, **SCORES, "transcript": "words"}]))
    plans = pipeline.plans
    _, requeued = import_label_files(database, plans, [labels], dry_run=True)
    assert requeued == 0 and _states(database, video_id)["describe"] == StageStatus.DONE
    _, requeued = import_label_files(database, plans, [labels])
    assert requeued == len(downstream_of(["describe"], plans))  # describe and what follows
    assert _states(database, video_id)["describe"] == StageStatus.PENDING
    with database.write() as session:
        for run in session.scalars(select(StageRun).where(StageRun.video_id == video_id)):
            run.status, run.waiting_on = StageStatus.DONE, 0
    report, requeued = import_label_files(database, plans, [labels])
    assert (report.unchanged, requeued) == (1, 0)


def test_a_deeply_nested_sidecar_is_refused_as_too_deep_not_as_a_symlink_loop(config, database):
    inbox = Inbox(config, database, ArtifactStore(config.store_dir), Pipeline.default())
    config.inbox_dir.mkdir(parents=True, exist_ok=True)
    path = config.inbox_dir / f"{CLIP}.labels.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    verdict = inbox.register_now(path)
    assert verdict.state == FileState.REJECTED
    assert "nested too deeply to read" in verdict.reason and path.name in verdict.reason
    assert "symlink" not in verdict.reason


def test_a_recursion_error_reading_an_inbox_file_is_not_called_a_symlink_loop(tmp_path):
    too_deep = unreadable_reason(RecursionError("maximum recursion depth exceeded"))
    assert "nested too deeply to read" in too_deep and "symlink" not in too_deep
    os.symlink("loop.mp4", tmp_path / "loop.mp4")
    with pytest.raises((RuntimeError, OSError)) as looped:  # OSError from Python 3.13
        (tmp_path / "loop.mp4").resolve()
    assert unreadable_reason(looped.value).startswith("symlink loop")
