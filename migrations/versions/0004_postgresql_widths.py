"""widths PostgreSQL enforces: a training run names every version it promoted (one per
feature profile, joined) and video sizes may pass 2 GiB; an index of the fresh runs in
claim order (SQLite's claim index ends in the rowid, PostgreSQL's does not)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Runnable now and never tried: what a claim takes when no retry is due, oldest first.
_FRESH_WHERE = "status = 'pending' AND waiting_on = 0 AND next_attempt_at IS NULL"

# (table, column, nullable) of the byte sizes that become 64-bit on PostgreSQL.
_SIZES = (("videos", "size_bytes", False), ("inbox_files", "size_bytes", True))


def _size_columns(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    """Change the byte-size columns' type on PostgreSQL; SQLite's INTEGER is 64-bit
    already, and its tables are left as they are."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in _SIZES:
        op.alter_column(table, column, existing_type=old, type_=new, existing_nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("training_runs") as batch:
        batch.alter_column("model_version", existing_type=sa.String(length=64), type_=sa.Text())
    _size_columns(sa.Integer(), sa.BigInteger())
    op.create_index(
        "ix_stage_runs_claim_fresh",
        "stage_runs",
        ["resource", "id"],
        sqlite_where=sa.text(_FRESH_WHERE),
        postgresql_where=sa.text(_FRESH_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_stage_runs_claim_fresh", table_name="stage_runs")
    _size_columns(sa.BigInteger(), sa.Integer())
    with op.batch_alter_table("training_runs") as batch:
        batch.alter_column("model_version", existing_type=sa.Text(), type_=sa.String(length=64))
