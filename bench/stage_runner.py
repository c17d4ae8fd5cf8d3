"""Running lprd's stages on a clip outside the daemon, for the benchmarks: a config,
database, store and model cache under a home folder, and the stages run in order."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class BenchEnv:
    """What a stage needs besides the video: config, database, store, loaded models."""

    config: Any
    db: Any
    store: Any
    models: Any


def context(home: Path, models: Any) -> BenchEnv:
    """A config, migrated database and store under `home`, sharing `models`."""
    from daemon.config import load_config
    from storage import db as dbmod
    from storage.artifacts import ArtifactStore

    config = load_config(home=home, env={})
    config.home_dir.mkdir(parents=True, exist_ok=True)
    dbmod.upgrade(config.database_url)
    return BenchEnv(
        config, dbmod.Database(config.database_url), ArtifactStore(config.store_dir), models
    )


def run_stages(path: Path, env: BenchEnv, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Run the named stages on `path` in order; per stage its seconds, outcome kind,
    backend and recorded output (the artifact envelope: status, data, reason)."""
    from daemon.pipeline import Pipeline
    from daemon.runner import execute
    from daemon.stages import registered_stages
    from daemon.stages.base import StageContext, VideoRef, artifact_filename
    from storage.videos import register_video, sha256_of

    stages = {s.name: s for s in registered_stages()}
    with env.db.write() as session:
        reg = register_video(session, sha256=sha256_of(path), name=path.name, path=path,
                             size_bytes=path.stat().st_size, plans=Pipeline.default().plans.values())  # fmt: skip
    video = VideoRef(reg.video_id, reg.sha256, path.name, path)
    ctx = StageContext(video, env.config, env.store, env.models, env.db)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        start = time.perf_counter()
        outcome = execute(stages[name], ctx)
        target = ctx.artifact_path(artifact_filename(name))
        out[name] = {
            "s": time.perf_counter() - start,
            "kind": outcome.kind,
            "backend": outcome.backend,
            "message": outcome.message,
            "output": env.store.read_json(target) if target.exists() else {},
        }
    return out
