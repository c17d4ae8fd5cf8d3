"""Every state machine's vocabulary, one enum each, defined here and nowhere else.

The values are what the database stores (and what `lprd status --json` prints); each enum
is a `StrEnum`, so a member compares equal to the stored string and binds as one.
"""

from __future__ import annotations

from enum import StrEnum


class StageStatus(StrEnum):
    """Where a stage run is: `pending → running → done | failed | skipped`."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


# A skipped stage counts as done for the stages after it.
FINISHED_STATES = (StageStatus.DONE, StageStatus.SKIPPED)


class ErrorKind(StrEnum):
    """Why a stage run is failed, or pending with a `last_error`."""

    PERMANENT = "permanent"  # bad input: failed at once
    EXHAUSTED = "exhausted"  # transient failures used up the attempts
    TRANSIENT = "transient"  # will be retried after a delay
    WAITING = "waiting"  # deferred until what it needs exists, without using an attempt
    REAPED = "reaped"  # its worker died; back in the queue, the attempt given back
    CRASHING = "crashing"  # its process died every time it ran: failed for good
    BLOCKED = "blocked"  # pending behind a stage of the same video that failed for good


class RunOutcome(StrEnum):
    """What happened when a stage ran once (before it is recorded as a transition)."""

    DONE = "done"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    STOPPED = "stopped"
    PERMANENT = "permanent"
    TRANSIENT = "transient"


class FileState(StrEnum):
    """What became of a file seen in the inbox; every file ends in one, visibly."""

    WAITING = "waiting"  # still being copied (size or mtime changing)
    REGISTERED = "registered"
    DUPLICATE = "duplicate"  # same content as an already registered video
    REJECTED = "rejected"
    SIDECAR = "sidecar"  # a `.labels.json` file whose labels were imported


class ModelState(StrEnum):
    """A trained model version: candidate, the promoted one of its profile, or retired."""

    CANDIDATE = "candidate"
    PROMOTED = "promoted"
    RETIRED = "retired"


class TrainingStatus(StrEnum):
    """A fine-tuning job; at most one is running at a time."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"  # ended on request (SIGTERM, Ctrl-C on `lprd train`)


class WorkerState(StrEnum):
    """A daemon process in the `workers` table: alive, stopped cleanly, or presumed dead."""

    RUNNING = "running"
    STOPPED = "stopped"  # exited cleanly, its running stages handed back
    LOST = "lost"  # its heartbeat stopped: its running stages were returned to the queue
