"""a forget is recorded before it deletes anything: `forgotten_videos` gains the state of
the forget (`erasing` until every file is deleted, then `done`), the forgotten video's id
and the paths still to delete

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "forgotten_videos",
        sa.Column("state", sa.String(16), nullable=False, server_default="done"),
    )
    op.add_column("forgotten_videos", sa.Column("video_id", sa.Integer(), nullable=True))
    op.add_column("forgotten_videos", sa.Column("paths", sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), as in 0007.
    op.drop_column("forgotten_videos", "paths")
    op.drop_column("forgotten_videos", "video_id")
    op.drop_column("forgotten_videos", "state")
