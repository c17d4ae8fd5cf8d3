"""The checked stage graph: names, dependencies, fingerprints.

Built once at start-up from the registry. Refuses to start on duplicate names, missing
dependencies, cycles, or stage names in the database that no registered stage handles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from daemon.errors import RegistryError
from daemon.stages.base import Stage
from storage.models import StageRun
from storage.transitions import StagePlan

if TYPE_CHECKING:
    from daemon.config import Config
    from storage.db import Database


class Pipeline:
    """An ordered, validated set of stages."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        check_stages(stages)
        self.stages: dict[str, Stage] = {s.name: s for s in stages}
        self.known: set[str] = set(self.stages)  # every stage this version can handle
        self.order: list[str] = [s.name for s in stages]
        self.plans: dict[str, StagePlan] = {
            s.name: StagePlan(s.name, s.requires, s.resource, s.retry) for s in stages
        }

    @classmethod
    def default(cls, only: list[str] | None = None) -> Pipeline:
        """The pipeline of every registered stage, or of the `only` ones."""
        from daemon.stages import registered_stages

        stages = registered_stages()
        if only is not None:
            known = {s.name for s in stages}
            unknown = sorted(set(only) - known)
            if unknown:
                raise RegistryError(
                    f"config 'stages' names unknown stages {unknown}; known: {sorted(known)}"
                )
            stages = [s for s in stages if s.name in only]
        pipeline = cls(stages)
        pipeline.known = {s.name for s in registered_stages()}
        return pipeline

    def __getitem__(self, name: str) -> Stage:
        return self.stages[name]

    def check_database(self, db: Database) -> None:
        """Refuse to run if the database names stages this version does not know."""
        with db.read() as session:
            names = set(session.scalars(select(StageRun.stage).distinct()))
        unknown = sorted(names - self.known)
        if unknown:
            raise RegistryError(
                f"the database has stage runs for unknown stages {unknown}: this lprd version "
                f"knows {self.order}. Upgrade lprd, or remove those rows if the stage was retired."
            )

    def fingerprints(self, config: Config, db: Database) -> dict[str, str]:
        """A hash per stage of everything that determines its output, upstream included."""
        result: dict[str, str] = {}
        for name in self.order:
            stage = self.stages[name]
            parts = {
                "stage": name,
                "version": stage.version,
                "config": stage.config_key(config) if stage.config_key else None,
                "state": stage.state_key(db) if stage.state_key else None,
                "upstream": [result[dep] for dep in stage.requires],
            }
            blob = json.dumps(parts, sort_keys=True, default=str).encode()
            result[name] = hashlib.sha256(blob).hexdigest()[:32]
        return result


def check_stages(stages: Sequence[Stage]) -> None:
    """Raise RegistryError on duplicate names, unknown dependencies or cycles."""
    seen: set[str] = set()
    for stage in stages:
        if stage.name in seen:
            raise RegistryError(f"two stages are registered under the name {stage.name!r}")
        missing = [dep for dep in stage.requires if dep not in {s.name for s in stages}]
        if missing:
            raise RegistryError(f"stage {stage.name!r} requires unregistered stages {missing}")
        if stage.resource not in ("cpu", "gpu"):
            raise RegistryError(f"stage {stage.name!r} has unknown resource {stage.resource!r}")
        seen.add(stage.name)
    _check_acyclic(stages)


def _check_acyclic(stages: Sequence[Stage]) -> None:
    requires = {s.name: set(s.requires) for s in stages}
    done: set[str] = set()
    while len(done) < len(requires):
        ready = [n for n, deps in requires.items() if n not in done and deps <= done]
        if not ready:
            cycle = sorted(set(requires) - done)
            raise RegistryError(f"the stage dependencies form a cycle among {cycle}")
        done.update(ready)
