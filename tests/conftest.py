"""Shared fixtures: a real database built by the real migrations, a store, a config,
media made with PyAV, and the real First Impressions clips from ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import Config, load_config
from daemon.model_cache import ModelCache
from daemon.pipeline import Pipeline
from daemon.stages.base import StageContext, VideoRef
from storage import db as dbmod
from storage.artifacts import ArtifactStore
from storage.videos import register_video, sha256_of

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FI_DIR = SHARED / "data" / "first_impressions_v2"
CLIPS_DIR = FI_DIR / "clips"


def real_clips() -> list[Path]:
    """The real First Impressions mp4 clips shipped in ../shared."""
    return sorted(CLIPS_DIR.glob("*.mp4"))


requires_clips = pytest.mark.skipif(not real_clips(), reason="../shared clips are not present")


@pytest.fixture(scope="session")
def model_cache() -> ModelCache:
    """One model cache for the whole test session, as in the daemon."""
    return ModelCache("cpu")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config whose home is a fresh temp folder, ignoring the caller's environment."""
    return load_config(home=tmp_path / "home", env={})


@pytest.fixture
def database(config: Config) -> dbmod.Database:
    """A SQLite database built by `alembic upgrade head`."""
    config.home_dir.mkdir(parents=True, exist_ok=True)
    dbmod.upgrade(config.database_path)
    database = dbmod.Database.at(config.database_path)
    yield database
    database.dispose()


@pytest.fixture
def store(config: Config) -> ArtifactStore:
    return ArtifactStore(config.store_dir)


@pytest.fixture
def make_ctx(config, database, store, model_cache):
    """Register a media file as a video and return a StageContext for it."""

    def _make(path: Path, pipeline: Pipeline | None = None) -> StageContext:
        pipeline = pipeline or Pipeline.default()
        with database.write() as session:
            reg = register_video(
                session,
                sha256=sha256_of(path),
                name=path.name,
                path=path,
                size_bytes=path.stat().st_size,
                plans=pipeline.plans.values(),
            )
        video = VideoRef(reg.video_id, reg.sha256, path.name, path)
        return StageContext(
            video=video, config=config, store=store, models=model_cache, db=database
        )

    return _make
