"""Shared fixtures: a real database built by the real migrations, a store, a config,
media made with PyAV, and the real First Impressions clips from ../shared.

Tests marked `both_backends` run twice: on SQLite and on a throwaway PostgreSQL server
(tests/support/pg_server.py), one fresh database per test; where no server can start, the
PostgreSQL runs skip and say what is missing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.config import Config, load_config
from daemon.model_cache import ModelCache
from daemon.pipeline import Pipeline
from daemon.stages.base import StageContext, VideoRef
from storage import db as dbmod
from storage.artifacts import ArtifactStore
from storage.videos import register_video, sha256_of
from tests.support.pg_server import PgServer, PgUnavailableError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FI_DIR = SHARED / "data" / "first_impressions_v2"
CLIPS_DIR = FI_DIR / "clips"


def real_clips() -> list[Path]:
    """The real First Impressions mp4 clips shipped in ../shared."""
    return sorted(CLIPS_DIR.glob("*.mp4"))


requires_clips = pytest.mark.skipif(not real_clips(), reason="../shared clips are not present")

BACKENDS = ("sqlite", "postgresql")
PG_TEMPLATE = "lprd_template"  # migrated once; each test's database is a copy of it
_pg_names = itertools.count(1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run `both_backends` tests once per backend (the `backend` fixture's value)."""
    if metafunc.definition.get_closest_marker("both_backends") and (
        "backend" in metafunc.fixturenames
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: "sqlite" unless it is a `both_backends` test."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the session, with a migrated template database."""
    try:
        server = PgServer.start()
    except PgUnavailableError as exc:
        pytest.skip(f"PostgreSQL tests skipped: no server could start: {exc}")
    try:
        dbmod.upgrade(server.create_database(PG_TEMPLATE))
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh migrated PostgreSQL database (a copy of the template), dropped after."""
    name = f"lprd_test_{next(_pg_names)}"
    yield pg_server.create_database(name, template=PG_TEMPLATE)
    pg_server.drop_database(name)


@pytest.fixture
def backend_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """The database a test daemon uses: None for SQLite in its home, else a fresh
    migrated PostgreSQL database (see `tests.support.daemon_proc.new_home`)."""
    return request.getfixturevalue("pg_url") if backend == "postgresql" else None


@pytest.fixture
def empty_pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh PostgreSQL database with no schema, dropped after."""
    name = f"lprd_empty_{next(_pg_names)}"
    yield pg_server.create_database(name)
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def model_cache() -> ModelCache:
    """One model cache for the whole test session, as in the daemon."""
    return ModelCache("cpu")


@pytest.fixture
def config(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Config:
    """A config whose home is a fresh temp folder, ignoring the caller's environment;
    on PostgreSQL its `database.url` names a fresh migrated database."""
    config = load_config(home=tmp_path / "home", env={})
    if backend == "postgresql":
        config.database.url = request.getfixturevalue("pg_url")
    return config


@pytest.fixture
def database(config: Config) -> Iterator[dbmod.Database]:
    """The config's database, built by `alembic upgrade head`."""
    config.home_dir.mkdir(parents=True, exist_ok=True)
    if config.database.url is None:
        dbmod.upgrade(config.database_path)  # a PostgreSQL one is a copy of a migrated one
    database = dbmod.Database(config.database_url)
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
