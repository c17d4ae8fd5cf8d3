"""a `workers` table (one row per daemon process: host, pid, roles, heartbeat); stage runs
record the process that claimed them, training runs the host their process runs on

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("roles", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_workers_state_heartbeat", "workers", ["state", "heartbeat_at"])
    # A plain ADD COLUMN, no foreign key: SQLite adds a constraint only by copying the
    # table, which would drop the stage_counts triggers. Worker rows are never deleted.
    op.add_column("stage_runs", sa.Column("claimed_by", sa.Integer(), nullable=True))
    op.add_column("training_runs", sa.Column("host", sa.String(length=255), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), again so that stage_runs keeps its triggers.
    op.drop_column("training_runs", "host")
    op.drop_column("stage_runs", "claimed_by")
    op.drop_index("ix_workers_state_heartbeat", table_name="workers")
    op.drop_table("workers")
