"""Promotion rules: beat the promoted model and the train-mean baseline, atomically."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from daemon.errors import LprdError
from daemon.learn import registry
from storage.models import ModelVersion

pytestmark = pytest.mark.both_backends  # the one-promoted-per-profile index on both


def candidate(db, version: str, acc: float, base: float = 0.88, profile: str = "full") -> str:
    registry.register_candidate(
        db,
        version=version,
        kind="regression",
        base_model="tiny",
        template_version="t1",
        feature_profile=profile,
        train_count=10,
        metrics={"baseline": {"mean_accuracy": base}},
        val_mean_accuracy=acc,
        path="/nowhere",
    )
    return version


def states(db) -> dict[str, str]:
    return {v.version: v.state for v in registry.all_versions(db)}


def test_promotion_needs_to_beat_the_baseline(database):
    decision = registry.promote_if_better(database, candidate(database, "a", 0.879))
    assert not decision.promoted and "baseline" in decision.reason
    assert registry.promote_if_better(database, candidate(database, "b", 0.885)).promoted
    assert states(database) == {"a": "candidate", "b": "promoted"}


def test_a_worse_candidate_is_refused_and_the_promoted_model_stays(database):
    registry.promote_if_better(database, candidate(database, "good", 0.90))
    decision = registry.promote_if_better(database, candidate(database, "worse", 0.895))
    assert not decision.promoted and "good" in decision.reason
    assert states(database) == {"good": "promoted", "worse": "candidate"}
    assert registry.promoted_versions(database) == {"full": "good"}


def test_a_better_candidate_retires_the_old_one(database):
    registry.promote_if_better(database, candidate(database, "old", 0.89))
    registry.promote_if_better(
        database, candidate(database, "other", 0.95, profile="transcript_only")
    )
    assert registry.promote_if_better(database, candidate(database, "new", 0.91)).promoted
    assert states(database) == {"old": "retired", "other": "promoted", "new": "promoted"}
    assert registry.promoted_versions(database) == {"full": "new", "transcript_only": "other"}


def test_the_schema_refuses_two_promoted_models_of_one_profile(database):
    registry.promote_if_better(database, candidate(database, "one", 0.90))
    candidate(database, "two", 0.91)
    with pytest.raises(IntegrityError), database.write() as session:
        row = session.query(ModelVersion).filter_by(version="two").one()
        row.state = "promoted"
    assert registry.promoted_versions(database) == {"full": "one"}


def test_versions_table_lists_every_model(database):
    from rich.console import Console

    registry.promote_if_better(database, candidate(database, "shown", 0.90))
    console = Console(width=200, record=True)
    console.print(registry.model_versions_table(database))
    text = console.export_text()
    assert "shown" in text and "promoted" in text and "0.9000" in text


def test_a_run_that_promotes_two_profiles_names_both(database):
    from daemon.learn.jobs.train_job import promoted_in_run

    assert promoted_in_run(database, "r7") is None
    registry.promote_if_better(database, candidate(database, "full-numeric-r7", 0.90))
    registry.promote_if_better(
        database,
        candidate(database, "transcript_only-embedding-r7", 0.90, profile="transcript_only"),
    )
    registry.promote_if_better(database, candidate(database, "full-numeric-r6", 0.89))
    assert promoted_in_run(database, "r7") == "full-numeric-r7, transcript_only-embedding-r7"


def test_retiring_the_promoted_model_leaves_its_profile_without_one(database):
    registry.promote_if_better(database, candidate(database, "served", 0.90))
    said = registry.retire(database, "served")
    assert said.startswith("retired served: the full profile of the first_impressions set")
    assert states(database) == {"served": "retired"}
    assert registry.promoted(database, "full") is None
    with pytest.raises(LprdError, match="retired, not promoted"):
        registry.retire(database, "served")
    with pytest.raises(LprdError, match="no model version 'nothing'"):
        registry.retire(database, "nothing")
    assert registry.promote_if_better(database, candidate(database, "next", 0.885)).promoted
