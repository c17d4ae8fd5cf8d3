"""ORM models: the database is the single source of truth for lprd's state.

The schema is created and changed only through Alembic (see migrations/); a test checks
that `alembic upgrade head` produces exactly these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.states import FINISHED_STATES as FINISHED_STATES  # re-exported
from storage.states import FileState, ModelState, StageStatus, TrainingStatus, WorkerState

# Byte sizes of videos: 64-bit on PostgreSQL (its INTEGER stops at 2 GiB); SQLite's
# INTEGER is 64-bit already, and its schema stays as migration 0001 made it.
FILE_SIZE = BigInteger().with_variant(Integer(), "sqlite")

# A run a claim may take at once: see migration 0004 and storage/transitions.py.
FRESH_RUN = "status = 'pending' AND waiting_on = 0 AND next_attempt_at IS NULL"

# Short names of the stage and inbox-file states, for the many modules that import them
# from here; the vocabulary itself is defined in storage/states.py.
PENDING = StageStatus.PENDING
RUNNING = StageStatus.RUNNING
DONE = StageStatus.DONE
FAILED = StageStatus.FAILED
SKIPPED = StageStatus.SKIPPED
STAGE_STATES = tuple(StageStatus)
FILE_WAITING = FileState.WAITING
FILE_REGISTERED = FileState.REGISTERED
FILE_DUPLICATE = FileState.DUPLICATE
FILE_REJECTED = FileState.REJECTED

# How the labels table names things: a clip known only by content is `sha256:<hex>`, and
# the source of a label that came as a sidecar beside its video ends in this suffix.
HASH_PREFIX = "sha256:"
SIDECAR_SUFFIX = ".labels.json"

# The five traits plus the interview score, in the order lprd reports them.
TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
TARGETS = (*TRAITS, "interview")
BUILTIN_SET = "first_impressions"  # the target set of TARGETS (daemon.targets has the rest)


class Base(DeclarativeBase):
    """Declarative base for all lprd tables."""


class Video(Base):
    """One unique video content (by sha256), whatever names it arrived under."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(512), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    size_bytes: Mapped[int] = mapped_column(FILE_SIZE, nullable=False)
    # The original's mtime when registered: a change means its content must be checked.
    mtime: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    # The speaker label the user chose as the subject (`lprd retry --subject`); None: the
    # diarize stage chooses (a sidecar's "subject", else `audio.subject_rule`).
    subject_speaker: Mapped[str | None] = mapped_column(String(64))

    stage_runs: Mapped[list[StageRun]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (Index("ix_videos_name", "name"),)


class StageRun(Base):
    """One row per (video, stage): the guarded state machine that workers drive."""

    __tablename__ = "stage_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), nullable=False
    )
    stage: Mapped[str] = mapped_column(String(64), nullable=False)
    resource: Mapped[str] = mapped_column(String(16), nullable=False, default="cpu")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    # Number of required stages of the same video not yet done/skipped; claimable at 0.
    waiting_on: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    # Runs ended by the death of their process (kill -9, OOM killer, a crash): not
    # attempts, since an outside kill is not the stage's fault.
    interruptions: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(16))
    skip_reason: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    # The daemon process (`workers.id`) whose thread claimed this run: on a shared
    # database, a run is reaped when that process's heartbeat stops. (No foreign key:
    # see migration 0005; worker rows are never deleted.)
    claimed_by: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    duration_s: Mapped[float | None] = mapped_column(Float)
    backend: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(256))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    artifact: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)

    video: Mapped[Video] = relationship(back_populates="stage_runs")

    __table_args__ = (
        UniqueConstraint("video_id", "stage", name="uq_stage_runs_video_stage"),
        # SQLite appends the rowid to every index, so a claim walks this in id order.
        Index("ix_stage_runs_claim", "status", "resource", "waiting_on", "next_attempt_at"),
        # Fresh runs in claim order; PostgreSQL needs it (its indexes do not end in the id).
        Index(
            "ix_stage_runs_claim_fresh",
            "resource",
            "id",
            sqlite_where=text(FRESH_RUN),
            postgresql_where=text(FRESH_RUN),
        ),
        Index("ix_stage_runs_stage_status", "stage", "status"),
        Index("ix_stage_runs_finished_at", "finished_at"),
        Index("ix_stage_runs_error_kind", "error_kind", "stage"),
    )


class WorkerProcess(Base):
    """One `lprd run` process on some host: registered at start, beating while it lives.

    On a database several hosts share, this heartbeat, not a local pid check, says
    whether the process is alive; its thread ids (`stage_runs.worker_id`) start with
    `host:pid:`.
    """

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    roles: Mapped[str] = mapped_column(String(128), nullable=False)  # comma-separated
    version: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=WorkerState.RUNNING)
    started_at: Mapped[datetime] = mapped_column(nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(nullable=False)
    stopped_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_workers_state_heartbeat", "state", "heartbeat_at"),)


class StageCount(Base):
    """Rows per (stage, status), kept exact by triggers on stage_runs (see migrations),
    so `lprd status` costs the same with 100 or 100,000 videos."""

    __tablename__ = "stage_counts"

    stage: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


FORGET_ERASING = "erasing"  # rows deleted, files (listed in `paths`) maybe not yet
FORGET_DONE = "done"  # every file deleted: only the content hash is kept


class ForgottenVideo(Base):
    """Content a user asked lprd to forget: not ingested again from the inbox.

    Written (state `erasing`, with every path to delete) in the transaction that deletes
    the video's rows, so a forget killed before its files are gone is finished by the next
    `lprd forget` or daemon start; `done` once they are (then `paths` is cleared).
    """

    __tablename__ = "forgotten_videos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), nullable=False)
    forgotten_at: Mapped[datetime] = mapped_column(nullable=False)
    state: Mapped[str] = mapped_column(
        String(16), nullable=False, default=FORGET_DONE, server_default=FORGET_DONE
    )
    video_id: Mapped[int | None] = mapped_column(Integer)
    paths: Mapped[str | None] = mapped_column(Text)  # JSON list of absolute paths


class InboxFile(Base):
    """Every file path seen in the inbox, with what became of it and why."""

    __tablename__ = "inbox_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(512), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(FILE_SIZE)
    mtime: Mapped[float | None] = mapped_column(Float)
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id", ondelete="SET NULL"))
    first_seen_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)

    __table_args__ = (Index("ix_inbox_files_state", "state"),)


class FirstImpressionsScores:
    """The six First Impressions columns (0-1), shared by labels and predictions."""

    openness: Mapped[float | None] = mapped_column(Float)
    conscientiousness: Mapped[float | None] = mapped_column(Float)
    extraversion: Mapped[float | None] = mapped_column(Float)
    agreeableness: Mapped[float | None] = mapped_column(Float)
    neuroticism: Mapped[float | None] = mapped_column(Float)
    interview: Mapped[float | None] = mapped_column(Float)


class Label(FirstImpressionsScores, Base):
    """Ground-truth scores for a clip name, from a dataset import or a sidecar file."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_name: Mapped[str] = mapped_column(String(512), unique=True, nullable=False)
    group_id: Mapped[str | None] = mapped_column(String(128))  # e.g. the YouTube id
    split: Mapped[str | None] = mapped_column(String(16))  # train / validation / test
    source: Mapped[str] = mapped_column(String(256), nullable=False)
    transcript: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(nullable=False)

    __table_args__ = (Index("ix_labels_split", "split"),)


class StudyLabel(Base):
    """One rating of a clip on a declared target set's scale (not First Impressions'
    built-in set, whose ratings live in `labels`). A clip may have some targets rated and
    others not; `clip_name` is the clip's file name or `sha256:<hex>`."""

    __tablename__ = "study_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_set: Mapped[str] = mapped_column(String(64), nullable=False)
    clip_name: Mapped[str] = mapped_column(String(512), nullable=False)
    target: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)  # on the declared scale
    group_id: Mapped[str | None] = mapped_column(String(128))  # e.g. the participant
    split: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(256), nullable=False)
    imported_at: Mapped[datetime] = mapped_column(nullable=False)

    __table_args__ = (
        UniqueConstraint("target_set", "clip_name", "target", name="uq_study_labels_rating"),
        Index("ix_study_labels_set_clip", "target_set", "clip_name"),
    )


class Description(Base):
    """A text description the LLM reads, for a video or (transcript-only) a labelled clip."""

    __tablename__ = "descriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    clip_name: Mapped[str] = mapped_column(String(512), nullable=False)
    feature_profile: Mapped[str] = mapped_column(String(32), nullable=False)
    template_version: Mapped[str] = mapped_column(String(32), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)

    __table_args__ = (
        UniqueConstraint("clip_name", "feature_profile", name="uq_descriptions_clip_profile"),
        Index("ix_descriptions_profile_template", "feature_profile", "template_version"),
    )


class ModelVersion(Base):
    """A trained predictor: candidate, promoted (at most one per profile) or retired."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(
        String(32), nullable=False
    )  # regression / generative / embedding / numeric
    base_model: Mapped[str] = mapped_column(String(256), nullable=False)
    template_version: Mapped[str] = mapped_column(String(32), nullable=False)
    feature_profile: Mapped[str] = mapped_column(String(32), nullable=False)
    target_set: Mapped[str] = mapped_column(
        String(64), nullable=False, default=BUILTIN_SET, server_default=BUILTIN_SET
    )
    train_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    metrics_json: Mapped[str | None] = mapped_column(Text)
    val_mean_accuracy: Mapped[float | None] = mapped_column(Float)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=ModelState.CANDIDATE)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    promoted_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index(
            "uq_model_versions_one_promoted",
            "target_set",
            "feature_profile",
            unique=True,
            sqlite_where=text(f"state = '{ModelState.PROMOTED}'"),
            postgresql_where=text(f"state = '{ModelState.PROMOTED}'"),
        ),
    )


class TrainingRun(Base):
    """A fine-tuning job; the partial unique index allows one running at a time."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # TrainingStatus
    trigger: Mapped[str] = mapped_column(String(32), nullable=False)  # manual / scheduled
    pid: Mapped[int | None] = mapped_column(Integer)
    # The host whose process `pid` is: only that host can check the pid.
    host: Mapped[str | None] = mapped_column(String(255))
    log_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    labelled_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Every version the run promoted, one per feature profile, joined by ", ".
    model_version: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column()
    # JSON written while the run trains: each head's phase, rows, step, ETA and the budget
    # (daemon/learn/progress.py).
    progress: Mapped[str | None] = mapped_column(Text)
    target_set: Mapped[str] = mapped_column(
        String(64), nullable=False, default=BUILTIN_SET, server_default=BUILTIN_SET
    )

    __table_args__ = (
        Index(
            "uq_training_runs_one_running",
            "status",
            unique=True,
            sqlite_where=text(f"status = '{TrainingStatus.RUNNING}'"),
            postgresql_where=text(f"status = '{TrainingStatus.RUNNING}'"),
        ),
    )


class Prediction(FirstImpressionsScores, Base):
    """Scores a model version gave a video."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), nullable=False
    )
    model_version: Mapped[str] = mapped_column(String(64), nullable=False)
    target_set: Mapped[str] = mapped_column(
        String(64), nullable=False, default=BUILTIN_SET, server_default=BUILTIN_SET
    )
    # First Impressions' scores in their columns (FirstImpressionsScores); every set's
    # (this one's too) on its declared scale in scores_json.
    scores_json: Mapped[str | None] = mapped_column(Text)
    # Intervals, their level, reasons and the serving profile, as the predict stage wrote them.
    details_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(nullable=False)

    __table_args__ = (
        UniqueConstraint("video_id", "model_version", name="uq_predictions_video_model"),
    )


class Meta(Base):
    """Small key/value facts about the installation (e.g. last retrain time)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
