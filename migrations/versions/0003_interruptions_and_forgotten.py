"""stage runs count interruptions (their process died) apart from attempts; videos keep
their original's mtime; forgotten contents are remembered so they are not ingested again

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch:
        batch.add_column(
            sa.Column("interruptions", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("mtime", sa.Float(), nullable=True))
    op.create_table(
        "forgotten_videos",
        sa.Column("sha256", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("forgotten_videos")
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("mtime")
    with op.batch_alter_table("stage_runs") as batch:
        batch.drop_column("interruptions")
