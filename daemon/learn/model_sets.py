"""The target set a saved model was trained on, as its manifest recorded it.

A model learned its targets in unit space from the scales its set declared when it was
trained; it is served and evaluated on those scales. Reading them from the model, not from
today's config, keeps a promoted model working after its `[targets.NAME]` section was
edited or removed (the config names what to train next, the model what it is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.config import Config
from daemon.errors import PermanentError
from daemon.learn.predictor import read_manifest
from daemon.targets import TargetSet, described_set, get_set, target_sets
from storage.db import Database


def recorded_set(folder: Path) -> TargetSet | None:
    """The set in the manifest of the model saved in `folder`, or None when the folder,
    its manifest or the set in it is missing or unreadable (a model saved before sets)."""
    try:
        manifest = read_manifest(folder)
    except (PermanentError, OSError, ValueError):
        return None
    return described_set(manifest.get("target_set") if isinstance(manifest, dict) else None)


def trained_set(row: Any, config: Config | None) -> TargetSet:
    """The set the model `row` (a ModelVersion) was trained on: recorded with it, else the
    config's declaration of its name (LprdError naming the declared sets when neither
    exists)."""
    recorded = recorded_set(Path(row.path))
    if recorded is not None and recorded.name == row.target_set:
        return recorded
    return get_set(config, row.target_set)


def served_set_names(config: Config | None, db: Database) -> list[str]:
    """The sets predict scores: the built-in and declared ones in config order, then any
    other set that still has a promoted model (its section removed from the config)."""
    from daemon.learn.registry import promoted_sets

    names = list(target_sets(config))
    return names + [name for name in promoted_sets(db) if name not in names]
