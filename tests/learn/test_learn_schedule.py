"""The retrain loop: a child process trains after N labelled descriptions, one at a time,
and a killed training leaves the promoted model serving."""

from __future__ import annotations

import os
import signal
import time

import pytest

from daemon.learn import registry
from daemon.learn.jobs import supervisor
from tests.learn.test_learn_registry import candidate
from tests.learn.test_learn_tiny import (
    add_labelled,
    make_tiny_model,
    synthetic_rows,
    tiny_train_config,
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def wait_for(predicate, timeout: float = 180.0, step: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


def run_status(db) -> dict:
    return supervisor.training_status(db)["last_run"]


@pytest.mark.slow
def test_scheduler_trains_after_n_new_labelled_descriptions(config, database, tiny_model):
    tiny_train_config(config, tiny_model, ["regression"])
    config.train.min_new_labelled = 60
    rows = synthetic_rows(60)
    add_labelled(database, rows[:59])  # 48 of them in train: below the threshold
    assert supervisor.maybe_start_training(config, database) is None
    assert "more labelled descriptions" in supervisor.next_check_hint(config, database)
    add_labelled(database, rows[59:] + synthetic_rows(80, seed=1)[60:])
    message = supervisor.maybe_start_training(config, database)
    assert message and "started" in message
    # One training at a time: a second start is refused while the first runs.
    run, refused = supervisor.start_training(config, database)
    assert run is None and "already running" in refused
    assert wait_for(lambda: run_status(database)["status"] != "running")
    last = run_status(database)
    log_text = open(last["log"]).read()
    assert last["status"] == "done", log_text
    assert last["model_version"] == registry.promoted(database, "transcript_only").version
    # Nothing new since that run: the scheduler stays quiet.
    assert supervisor.maybe_start_training(config, database) is None


@pytest.mark.slow
def test_killed_training_leaves_the_promoted_model_in_place(config, database, tiny_model):
    tiny_train_config(config, tiny_model, ["regression"])
    config.train.max_steps, config.train.epochs = 100_000, 100.0  # runs until killed
    add_labelled(database, synthetic_rows(60))
    registry.promote_if_better(
        database, candidate(database, "serving", 0.99, profile="transcript_only")
    )
    run, _ = supervisor.start_training(config, database)
    assert wait_for(lambda: "step 0/" in open(run.log_path).read(), timeout=120)
    os.kill(run.pid, signal.SIGKILL)
    assert wait_for(lambda: run_status(database)["status"] == "failed", timeout=30)
    error = run_status(database)["error"]
    assert "killed by signal 9 (SIGKILL) from outside in training" in error, error
    assert "out of memory" not in error, error
    assert registry.promoted_versions(database) == {"transcript_only": "serving"}
    assert "failed" in supervisor.training_status(database, config)["summary"]


def test_reaper_fails_a_run_whose_process_is_gone(config, database):
    config.logs_dir.mkdir(parents=True)
    run = supervisor._claim_run(database, "manual", config.logs_dir)
    with database.write() as session:
        session.get(type(run), run.id).pid = 2**22 + 12345  # no such process
    assert supervisor.reap_dead_training(database) == 1
    assert run_status(database)["status"] == "failed"
    assert "ended without reporting" in run_status(database)["error"]
