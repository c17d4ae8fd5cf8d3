"""Run one stage on one video and record its artifact: the part of a worker that
knows nothing about the database, so tests and `lprd` tools can call it directly.
"""

from __future__ import annotations

import errno
import logging
import os
import time
import traceback
from dataclasses import dataclass

from daemon.errors import (
    PermanentError,
    StageDeferred,
    StageSkipped,
    StopRequested,
    TransientError,
)
from daemon.logtext import one_line
from daemon.stages.base import Stage, StageContext, artifact_filename
from storage.artifacts import VideoForgotten
from storage.outputs import StageOutput
from storage.states import RunOutcome, StageStatus

log = logging.getLogger("lprd.runner")
# Short names of the outcome kinds, for callers that import them from here.


@dataclass
class Outcome:
    """What happened when a stage ran."""

    kind: RunOutcome
    message: str = ""
    backend: str | None = None
    model: str | None = None
    summary: str | None = None
    artifact: str | None = None
    retry_after_s: float | None = None
    seconds: float = 0.0


# The disk is full or read-only: the environment's fault, cured by waiting, not the input's.
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def _disk_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def _storage_outcome(exc: OSError, ctx: StageContext, start: float) -> Outcome:
    """A write that failed: wait for the disk (no attempt used), else a permanent error."""
    seconds = time.monotonic() - start
    what = f"{os.strerror(exc.errno) if exc.errno else exc} writing {exc.filename or 'the store'}"
    if _disk_unavailable(exc):
        delay = max(5.0, ctx.config.workers.backoff_base_s)
        return Outcome(
            RunOutcome.DEFERRED,
            message=f"{what}: waiting {delay:.0f} s for space (no attempt used)",
            retry_after_s=delay,
            seconds=seconds,
        )
    return Outcome(
        RunOutcome.PERMANENT, message=f"cannot store the result: {what}", seconds=seconds
    )


def execute(stage: Stage, ctx: StageContext) -> Outcome:
    """Run `stage` on `ctx.video`; write its JSON artifact atomically on done or skipped."""
    start = time.monotonic()
    try:
        result = stage.run(ctx)
        recorded = StageOutput(
            stage.name, StageStatus.DONE, result.data, result.backend, result.model
        )
        outcome = Outcome(
            RunOutcome.DONE, backend=result.backend, model=result.model, summary=result.summary
        )
    except StageSkipped as exc:
        recorded = StageOutput(stage.name, StageStatus.SKIPPED, exc.data, reason=exc.reason)
        outcome = Outcome(RunOutcome.SKIPPED, message=exc.reason, summary=f"skipped: {exc.reason}")
    except StageDeferred as exc:
        return Outcome(RunOutcome.DEFERRED, message=exc.reason, retry_after_s=exc.retry_after_s)
    except StopRequested:
        return Outcome(RunOutcome.STOPPED, message="the daemon stopped while this stage ran")
    except PermanentError as exc:
        return Outcome(RunOutcome.PERMANENT, message=str(exc), seconds=time.monotonic() - start)
    except TransientError as exc:
        return Outcome(RunOutcome.TRANSIENT, message=str(exc), seconds=time.monotonic() - start)
    except VideoForgotten as exc:  # `lprd forget` meanwhile: what it wrote is deleted
        return Outcome(RunOutcome.PERMANENT, message=str(exc), seconds=time.monotonic() - start)
    except Exception as exc:  # noqa: BLE001 - any bug in a stage must not kill the worker
        if _disk_unavailable(exc):
            return _storage_outcome(exc, ctx, start)
        log.exception("stage %s failed on %s", stage.name, one_line(ctx.video.name))
        kind = "out of memory" if _is_out_of_memory(exc) else "unexpected error"
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        return Outcome(
            RunOutcome.TRANSIENT,
            message=f"{kind}: {type(exc).__name__}: {exc}{where}",
            seconds=time.monotonic() - start,
        )
    try:
        target = ctx.artifact_path(artifact_filename(stage.name))
        ctx.store.write_json(target, recorded.to_json())
    except OSError as exc:
        return _storage_outcome(exc, ctx, start)
    except VideoForgotten as exc:
        return Outcome(RunOutcome.PERMANENT, message=str(exc), seconds=time.monotonic() - start)
    outcome.artifact = ctx.store.relative(target)
    outcome.seconds = time.monotonic() - start
    return outcome
