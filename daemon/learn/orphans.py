"""Model folders no registry row points at, left by a training killed between writing a
candidate's folder and registering it, or whose candidates were dropped with its run
(`supervisor._fail_dead_run` deletes the rows): removed at daemon start and at the start
of each training run.

A folder is kept while a training run that may still be alive owns it (its version ends
in that run's tag, `-r<id>`), and while anything in it is younger than the grace period
(a head process of a killed run may still be finishing its write).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from sqlalchemy import select

from daemon.config import Config
from storage.db import Database
from storage.models import ModelVersion, TrainingRun
from storage.processes import pid_alive
from storage.states import TrainingStatus
from storage.workers import this_host

log = logging.getLogger("lprd.learn")
ORPHAN_GRACE_S = 3600.0  # an unregistered folder written to this recently is left alone


def remove_orphan_models(
    config: Config, db: Database, grace_s: float = ORPHAN_GRACE_S, now: float | None = None
) -> list[Path]:
    """Delete the folders under `store/models` that no model_versions row points at, are
    older than `grace_s` and belong to no training run still running; returns them."""
    root = config.store_dir / "models"  # trainer.models_dir, without importing the trainer
    if not root.is_dir():
        return []
    with db.read() as session:
        rows = session.execute(select(ModelVersion.version, ModelVersion.path)).all()
        running = list(
            session.scalars(select(TrainingRun).where(TrainingRun.status == TrainingStatus.RUNNING))
        )
    names = {version for version, _ in rows}
    paths = {_resolved(path) for _, path in rows}
    here = this_host()
    # Another host's run cannot be checked from here: taken as alive.
    live_tags = tuple(
        f"-r{run.id}" for run in running if run.host not in (None, here) or pid_alive(run.pid)
    )
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        folders = sorted(root.iterdir())
    except OSError as exc:
        log.warning("could not list %s for unregistered model folders: %s", root, exc)
        return removed
    for folder in folders:
        if folder.is_symlink() or not folder.is_dir():
            continue
        if folder.name in names or _resolved(str(folder)) in paths:
            continue
        if live_tags and folder.name.endswith(live_tags):
            continue
        age = now - _newest_mtime(folder)
        if age < grace_s:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
        log.warning(
            "removed model folder %s: no registered model version points at it (a training "
            "killed before registering it, or its run failed); last written %.0f s ago",
            folder,
            age,
        )
    return removed


def _resolved(path: str) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(path)


def _newest_mtime(folder: Path) -> float:
    """The latest modification time of the folder and anything in it."""
    newest = folder.lstat().st_mtime
    for entry in folder.rglob("*"):
        try:
            newest = max(newest, entry.lstat().st_mtime)
        except OSError:
            continue
    return newest
