"""training runs publish their progress (each head's phase, step, ETA, the time budget) as
JSON in `training_runs.progress`

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("training_runs", sa.Column("progress", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("training_runs", "progress")
