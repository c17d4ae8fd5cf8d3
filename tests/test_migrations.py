"""The schema comes only from Alembic, and `upgrade head` matches the ORM models."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import Database, head_revision, make_engine, sqlite_url, upgrade
from storage.models import Base
from tests.conftest import REPO


def test_upgrade_head_matches_the_orm(tmp_path) -> None:
    db_path = tmp_path / "m.db"
    upgrade(db_path)
    engine = make_engine(sqlite_url(db_path))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_alembic_cli_upgrade_head(tmp_path) -> None:
    db_path = tmp_path / "cli.db"
    env = {"LPRD_DB_URL": sqlite_url(db_path), "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    db = Database.at(db_path)
    with db.engine.connect() as conn:
        version = conn.exec_driver_sql("select version_num from alembic_version").scalar_one()
    db.dispose()
    assert version == head_revision()


def test_upgrade_twice_is_harmless_and_backs_up_old_schemas(tmp_path) -> None:
    db_path = tmp_path / "twice.db"
    assert upgrade(db_path) is None
    assert upgrade(db_path) is None  # already at head: nothing to back up
    assert list(tmp_path.glob("*.bak")) == []
