"""target sets: a study's own ratings (`study_labels`), the set each model was trained
on and each training ran for (`target_set`, 'first_impressions' for every existing row),
one promoted model per (set, profile), and predictions of any set (`target_set`,
`scores_json`; First Impressions' columns become nullable, existing rows keep them)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BUILTIN = "first_impressions"
FI = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism", "interview")


def upgrade() -> None:
    op.create_table(
        "study_labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target_set", sa.String(64), nullable=False),
        sa.Column("clip_name", sa.String(512), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("group_id", sa.String(128), nullable=True),
        sa.Column("split", sa.String(16), nullable=True),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("target_set", "clip_name", "target", name="uq_study_labels_rating"),
    )
    op.create_index("ix_study_labels_set_clip", "study_labels", ["target_set", "clip_name"])
    for table in ("model_versions", "training_runs"):
        op.add_column(
            table,
            sa.Column("target_set", sa.String(64), nullable=False, server_default=BUILTIN),
        )
    op.drop_index("uq_model_versions_one_promoted", table_name="model_versions")
    op.create_index(
        "uq_model_versions_one_promoted",
        "model_versions",
        ["target_set", "feature_profile"],
        unique=True,
        sqlite_where=sa.text("state = 'promoted'"),
        postgresql_where=sa.text("state = 'promoted'"),
    )
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(
            sa.Column("target_set", sa.String(64), nullable=False, server_default=BUILTIN)
        )
        batch.add_column(sa.Column("scores_json", sa.Text(), nullable=True))
        for column in FI:
            batch.alter_column(column, existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    op.execute(f"DELETE FROM predictions WHERE target_set <> '{BUILTIN}'")
    with op.batch_alter_table("predictions") as batch:
        for column in FI:
            batch.alter_column(column, existing_type=sa.Float(), nullable=False)
        batch.drop_column("scores_json")
        batch.drop_column("target_set")
    op.drop_index("uq_model_versions_one_promoted", table_name="model_versions")
    op.execute(f"DELETE FROM model_versions WHERE target_set <> '{BUILTIN}'")
    op.create_index(
        "uq_model_versions_one_promoted",
        "model_versions",
        ["feature_profile"],
        unique=True,
        sqlite_where=sa.text("state = 'promoted'"),
        postgresql_where=sa.text("state = 'promoted'"),
    )
    for table in ("training_runs", "model_versions"):
        op.drop_column(table, "target_set")
    op.drop_index("ix_study_labels_set_clip", table_name="study_labels")
    op.drop_table("study_labels")
