"""Config section for the visual stages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VisualConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    sample_fps: float = Field(
        5.0, gt=0.0, le=60.0, description="Frames analysed per second of video."
    )
