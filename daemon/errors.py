"""Exceptions a stage raises to tell the worker what happened.

Permanent errors fail at once (retrying cannot help: a corrupt file, no audio stream);
transient ones retry with backoff (out of memory, a busy database). Skips and deferrals
are not errors at all.
"""

from __future__ import annotations


class LprdError(Exception):
    """Base of lprd's own exceptions."""


class ConfigError(LprdError):
    """The configuration is invalid; the message names the field."""


class EmptyDatabaseError(LprdError):
    """A zero-byte database file: refused, never silently made a new, empty database."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"{path} is empty (0 bytes): lprd will not silently start a new database and "
            "process every video again. To start over on purpose, delete it "
            f"(rm {path}) and run `lprd init`; to recover, restore it from a backup "
            f"({path}.*.bak if a migration made one)"
        )


class RegistryError(LprdError):
    """The stage registry is inconsistent (duplicates, missing dependencies, unknown names)."""


class PermanentError(LprdError):
    """The stage can never succeed on this input; the message says what a person can do."""


class TransientError(LprdError):
    """The stage may succeed later; it is retried with backoff."""


class StageSkipped(LprdError):  # noqa: N818 - a signal, not a failure
    """Nothing to do for this input (no speech, no face); counts as done downstream."""

    def __init__(self, reason: str, data: dict | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data or {}


class StageDeferred(LprdError):  # noqa: N818 - a signal, not a failure
    """The stage cannot run yet (e.g. no model promoted); try again later, no attempt used."""

    def __init__(self, reason: str, retry_after_s: float = 300.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class StopRequested(LprdError):  # noqa: N818 - a signal, not a failure
    """The daemon is stopping; the stage returns to pending without using an attempt."""
