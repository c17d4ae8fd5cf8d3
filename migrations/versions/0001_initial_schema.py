"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# Keep stage_counts exact: every insert, delete and status change of a stage run
# moves one unit between (stage, status) cells.
_COUNT_TRIGGERS = [
    """
    CREATE TRIGGER stage_runs_count_insert AFTER INSERT ON stage_runs BEGIN
        INSERT INTO stage_counts (stage, status, n) VALUES (NEW.stage, NEW.status, 1)
        ON CONFLICT (stage, status) DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER stage_runs_count_delete AFTER DELETE ON stage_runs BEGIN
        UPDATE stage_counts SET n = n - 1 WHERE stage = OLD.stage AND status = OLD.status;
    END
    """,
    """
    CREATE TRIGGER stage_runs_count_update AFTER UPDATE OF status, stage ON stage_runs
    WHEN OLD.status IS NOT NEW.status OR OLD.stage IS NOT NEW.stage BEGIN
        UPDATE stage_counts SET n = n - 1 WHERE stage = OLD.stage AND status = OLD.status;
        INSERT INTO stage_counts (stage, status, n) VALUES (NEW.stage, NEW.status, 1)
        ON CONFLICT (stage, status) DO UPDATE SET n = n + 1;
    END
    """,
]

# The same bookkeeping in PL/pgSQL. The triggers are deferred to the commit: the counter
# rows every change of one stage shares are then locked only while the transaction
# commits, not from its UPDATE through its client's next round trips, so concurrent
# claimers do not queue on them. An update that moves a row between two cells locks the
# two counter rows in one fixed order, so two such updates cannot deadlock.
_PG_COUNT_FUNCTION = """
CREATE FUNCTION stage_runs_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stage_counts (stage, status, n) VALUES (NEW.stage, NEW.status, 1)
        ON CONFLICT (stage, status) DO UPDATE SET n = stage_counts.n + 1;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE stage_counts SET n = n - 1 WHERE stage = OLD.stage AND status = OLD.status;
    ELSIF (OLD.stage, OLD.status) < (NEW.stage, NEW.status) THEN
        UPDATE stage_counts SET n = n - 1 WHERE stage = OLD.stage AND status = OLD.status;
        INSERT INTO stage_counts (stage, status, n) VALUES (NEW.stage, NEW.status, 1)
        ON CONFLICT (stage, status) DO UPDATE SET n = stage_counts.n + 1;
    ELSE
        INSERT INTO stage_counts (stage, status, n) VALUES (NEW.stage, NEW.status, 1)
        ON CONFLICT (stage, status) DO UPDATE SET n = stage_counts.n + 1;
        UPDATE stage_counts SET n = n - 1 WHERE stage = OLD.stage AND status = OLD.status;
    END IF;
    RETURN NULL;
END
$$
"""
_PG_COUNT_TRIGGERS = [
    """
    CREATE CONSTRAINT TRIGGER stage_runs_count_insert AFTER INSERT ON stage_runs
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stage_runs_count()
    """,
    """
    CREATE CONSTRAINT TRIGGER stage_runs_count_delete AFTER DELETE ON stage_runs
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stage_runs_count()
    """,
    """
    CREATE CONSTRAINT TRIGGER stage_runs_count_update AFTER UPDATE OF status, stage ON stage_runs
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION stage_runs_count()
    """,
]


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _create_count_triggers() -> None:
    if _is_postgresql():
        op.execute(_PG_COUNT_FUNCTION)
        statements = _PG_COUNT_TRIGGERS
    else:
        statements = _COUNT_TRIGGERS
    for statement in statements:
        op.execute(statement)


def _drop_count_triggers() -> None:
    for name in ("insert", "delete", "update"):
        if _is_postgresql():
            op.execute(f"DROP TRIGGER IF EXISTS stage_runs_count_{name} ON stage_runs")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS stage_runs_count_{name}")
    if _is_postgresql():
        op.execute("DROP FUNCTION IF EXISTS stage_runs_count()")


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_name", sa.String(length=512), nullable=False),
        sa.Column("group_id", sa.String(length=128), nullable=True),
        sa.Column("split", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("openness", sa.Float(), nullable=True),
        sa.Column("conscientiousness", sa.Float(), nullable=True),
        sa.Column("extraversion", sa.Float(), nullable=True),
        sa.Column("agreeableness", sa.Float(), nullable=True),
        sa.Column("neuroticism", sa.Float(), nullable=True),
        sa.Column("interview", sa.Float(), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_name"),
    )
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.create_index("ix_labels_split", ["split"], unique=False)

    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("base_model", sa.String(length=256), nullable=False),
        sa.Column("template_version", sa.String(length=32), nullable=False),
        sa.Column("feature_profile", sa.String(length=32), nullable=False),
        sa.Column("train_count", sa.Integer(), nullable=False),
        sa.Column("metrics_json", sa.Text(), nullable=True),
        sa.Column("val_mean_accuracy", sa.Float(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("promoted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version"),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_model_versions_one_promoted",
            ["feature_profile"],
            unique=True,
            sqlite_where=sa.text("state = 'promoted'"),
            postgresql_where=sa.text("state = 'promoted'"),
        )

    op.create_table(
        "stage_counts",
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stage", "status"),
    )
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("labelled_count", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_training_runs_one_running",
            ["status"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.create_index("ix_videos_name", ["name"], unique=False)

    op.create_table(
        "descriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=True),
        sa.Column("clip_name", sa.String(length=512), nullable=False),
        sa.Column("feature_profile", sa.String(length=32), nullable=False),
        sa.Column("template_version", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_name", "feature_profile", name="uq_descriptions_clip_profile"),
    )
    with op.batch_alter_table("descriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_descriptions_profile_template",
            ["feature_profile", "template_version"],
            unique=False,
        )

    op.create_table(
        "inbox_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("mtime", sa.Float(), nullable=True),
        sa.Column("video_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    with op.batch_alter_table("inbox_files", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_files_state", ["state"], unique=False)

    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("openness", sa.Float(), nullable=False),
        sa.Column("conscientiousness", sa.Float(), nullable=False),
        sa.Column("extraversion", sa.Float(), nullable=False),
        sa.Column("agreeableness", sa.Float(), nullable=False),
        sa.Column("neuroticism", sa.Float(), nullable=False),
        sa.Column("interview", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("video_id", "model_version", name="uq_predictions_video_model"),
    )
    op.create_table(
        "stage_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("waiting_on", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.String(length=16), nullable=True),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("backend", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("artifact", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("video_id", "stage", name="uq_stage_runs_video_stage"),
    )
    with op.batch_alter_table("stage_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stage_runs_claim",
            ["status", "resource", "waiting_on", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index("ix_stage_runs_error_kind", ["error_kind", "stage"], unique=False)
        batch_op.create_index("ix_stage_runs_finished_at", ["finished_at"], unique=False)
        batch_op.create_index("ix_stage_runs_stage_status", ["stage", "status"], unique=False)

    _create_count_triggers()


def downgrade() -> None:
    _drop_count_triggers()
    with op.batch_alter_table("stage_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_stage_runs_stage_status")
        batch_op.drop_index("ix_stage_runs_finished_at")
        batch_op.drop_index("ix_stage_runs_error_kind")
        batch_op.drop_index("ix_stage_runs_claim")

    op.drop_table("stage_runs")
    op.drop_table("predictions")
    with op.batch_alter_table("inbox_files", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_files_state")

    op.drop_table("inbox_files")
    with op.batch_alter_table("descriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_descriptions_profile_template")

    op.drop_table("descriptions")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_name")

    op.drop_table("videos")
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_training_runs_one_running", sqlite_where=sa.text("status = 'running'")
        )

    op.drop_table("training_runs")
    op.drop_table("stage_counts")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_model_versions_one_promoted", sqlite_where=sa.text("state = 'promoted'")
        )

    op.drop_table("model_versions")
    op.drop_table("meta")
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_index("ix_labels_split")

    op.drop_table("labels")
