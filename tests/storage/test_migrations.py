"""The schema comes only from Alembic, and `upgrade head` matches the ORM models, on
SQLite and on PostgreSQL; every migration goes down to base and up again."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from storage.db import (
    Database,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    sqlite_url,
    upgrade,
)
from storage.models import Base
from tests.conftest import REPO

pytestmark = pytest.mark.both_backends


@pytest.fixture
def empty_url(backend: str, tmp_path, request: pytest.FixtureRequest) -> str:
    """A database with no schema yet, on this test's backend."""
    if backend == "sqlite":
        return sqlite_url(tmp_path / "m.db")
    return request.getfixturevalue("empty_pg_url")


def schema_diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def schema_of(url: str) -> list[tuple]:
    """Tables, columns, indexes and triggers as the database itself describes them."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = []
            insp = inspect(conn)
            for table in sorted(insp.get_table_names()):
                found += [(table, c["name"], str(c["type"])) for c in insp.get_columns(table)]
                indexes = insp.get_indexes(table)
                found += [(table, i["name"], tuple(i["column_names"])) for i in indexes]
            if engine.dialect.name == "sqlite":
                rows = conn.execute(text("SELECT type, name, sql FROM sqlite_master"))
            else:
                rows = conn.execute(
                    text("SELECT tgname, tgenabled, '' FROM pg_trigger WHERE NOT tgisinternal")
                )
            return sorted(found, key=str) + sorted(tuple(r) for r in rows)
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_orm(empty_url: str) -> None:
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    assert schema_diff(empty_url) == []


def test_downgrade_to_base_and_upgrade_again(empty_url: str) -> None:
    upgrade(empty_url)
    first = schema_of(empty_url)
    command.downgrade(alembic_config(empty_url), "base")
    left = [t for t in inspect_tables(empty_url) if t != "alembic_version"]
    assert left == []
    command.upgrade(alembic_config(empty_url), "head")
    assert schema_of(empty_url) == first
    assert schema_diff(empty_url) == []


def inspect_tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_stage_counts_follow_every_change_through_the_triggers(database: Database) -> None:
    from storage import transitions as tr
    from storage.models import StageCount
    from tests.storage.test_transitions import PLANS, add_videos

    add_videos(database, 3)
    with database.write() as session:
        run = tr.claim_next(session, "cpu", "w1")
    with database.write() as session:
        tr.complete(session, run.id, "w1", PLANS)
    with database.read() as session:
        counts = {(c.stage, c.status): c.n for c in session.query(StageCount) if c.n}
    assert counts == {("a", "pending"): 2, ("a", "done"): 1, ("b", "pending"): 3,
                      ("c", "pending"): 3}  # fmt: skip


def test_alembic_cli_upgrade_head(empty_url: str) -> None:
    env = {"LPRD_DB_URL": empty_url, "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert current_revision(empty_url) == head_revision()


def test_a_url_with_escaped_characters_reaches_alembic_unchanged() -> None:
    url = "postgresql+psycopg://lprd:p%40ss%25word@db.example/lprd"
    assert alembic_config(url).get_main_option("sqlalchemy.url") == url


def test_upgrade_twice_is_harmless_and_backs_up_old_schemas(tmp_path) -> None:
    """SQLite files are copied before a migration (PostgreSQL is backed up with its tools)."""
    db_path = tmp_path / "twice.db"
    assert upgrade(db_path) is None
    assert upgrade(db_path) is None  # already at head: nothing to back up
    assert list(tmp_path.glob("*.bak")) == []
    command.downgrade(alembic_config(sqlite_url(db_path)), "0003")
    backup = upgrade(db_path)
    assert backup is not None and backup.endswith(".0003.bak")


def test_first_impressions_home_keeps_models_and_predictions_through_target_sets(
    empty_url: str,
) -> None:
    """A home at 0008 (before target sets) keeps its promoted model and its predictions:
    both belong to the built-in set after the upgrade, and a study set's prediction (no
    First Impressions columns) can be stored beside them."""
    command.upgrade(alembic_config(empty_url), "0008")
    engine = make_engine(empty_url)
    now = "2026-01-01 00:00:00"
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO videos (id, sha256, name, path, size_bytes, created_at) "
                f"VALUES (1, '{'a' * 64}', 'a.mp4', '/x/a.mp4', 10, '{now}')"
            ))  # fmt: skip
            conn.execute(text(
                "INSERT INTO model_versions (version, kind, base_model, template_version, "
                "feature_profile, train_count, path, state, created_at) VALUES "
                f"('v1', 'embedding', 'm', '6', 'transcript_only', 9, '/m', 'promoted', '{now}')"
            ))  # fmt: skip
            conn.execute(text(
                "INSERT INTO predictions (video_id, model_version, openness, conscientiousness, "
                "extraversion, agreeableness, neuroticism, interview, created_at) VALUES "
                f"(1, 'v1', 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, '{now}')"
            ))  # fmt: skip
        command.upgrade(alembic_config(empty_url), "head")
        with engine.begin() as conn:
            model = conn.execute(text("SELECT target_set, state FROM model_versions")).one()
            assert tuple(model) == ("first_impressions", "promoted")
            row = conn.execute(
                text("SELECT target_set, openness, interview FROM predictions")
            ).one()
            assert tuple(row) == ("first_impressions", 0.1, 0.6)
            conn.execute(text(
                "INSERT INTO model_versions (version, kind, base_model, template_version, "
                "feature_profile, train_count, path, state, created_at, target_set) VALUES "
                f"('v2', 'embedding', 'm', '6', 'transcript_only', 9, '/m2', 'promoted', "
                f"'{now}', 'hiring')"
            ))  # fmt: skip
            conn.execute(text(
                "INSERT INTO predictions (video_id, model_version, target_set, scores_json, "
                f"created_at) VALUES (1, 'v2', 'hiring', '{{\"hireability\": 5}}', '{now}')"
            ))  # fmt: skip
            promoted = conn.execute(
                text("SELECT count(*) FROM model_versions WHERE state = 'promoted'")
            ).scalar_one()
            assert promoted == 2  # one per (set, profile)
    finally:
        engine.dispose()
    assert schema_diff(empty_url) == []
