"""videos record the speaker the user chose as the subject (`lprd retry --subject`) in
`videos.subject_speaker`

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("videos", sa.Column("subject_speaker", sa.String(64), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not a batch copy of the table: the stage runs,
    # descriptions and predictions that reference videos must not see it recreated.
    op.drop_column("videos", "subject_speaker")
