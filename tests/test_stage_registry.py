"""The stage registry is checked at start-up: duplicates, missing dependencies, cycles,
and stage names in the database that this version does not know stop the daemon."""

from __future__ import annotations

import pytest

from daemon.errors import RegistryError
from daemon.pipeline import Pipeline
from daemon.stages.base import Stage, StageResult
from storage.db import Database
from storage.videos import register_video


def _noop(ctx) -> StageResult:
    return StageResult(data={}, backend="none")


def test_the_shipped_registry_is_consistent() -> None:
    pipeline = Pipeline.default()
    assert pipeline.order[:2] == ["probe", "extract_audio"]
    for stage in pipeline.stages.values():
        assert stage.description, f"{stage.name} lacks a description"


def test_duplicates_missing_dependencies_and_cycles_are_refused() -> None:
    with pytest.raises(RegistryError, match="two stages"):
        Pipeline([Stage("a", _noop), Stage("a", _noop)])
    with pytest.raises(RegistryError, match="unregistered"):
        Pipeline([Stage("a", _noop, requires=("ghost",))])
    with pytest.raises(RegistryError, match="cycle"):
        Pipeline([Stage("a", _noop, requires=("b",)), Stage("b", _noop, requires=("a",))])


def test_unknown_stage_names_in_the_database_stop_the_daemon(database: Database) -> None:
    old = Pipeline([Stage("probe", _noop), Stage("retired", _noop, requires=("probe",))])
    with database.write() as session:
        register_video(
            session,
            sha256="f" * 64,
            name="x.mp4",
            path="/x.mp4",
            size_bytes=1,
            plans=old.plans.values(),
        )
    with pytest.raises(RegistryError, match="retired"):
        Pipeline.default().check_database(database)


def test_config_stage_subset_must_name_known_stages() -> None:
    with pytest.raises(RegistryError, match="unknown stages"):
        Pipeline.default(["probe", "nope"])
    with pytest.raises(RegistryError, match="unregistered"):
        Pipeline.default(["extract_audio"])  # needs probe
