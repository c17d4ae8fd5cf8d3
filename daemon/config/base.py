"""The one base class of every configuration section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: unknown keys are an error, not ignored, and an
    assignment is validated like a loaded value."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
