"""Config section for training and prediction."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    min_new_labelled: int = Field(
        200,
        ge=1,
        le=1_000_000,
        description="Start a scheduled training once this many new labelled descriptions exist.",
    )
    check_interval_s: float = Field(
        3600.0,
        ge=10.0,
        le=604800.0,
        description="How often the scheduler checks whether to retrain.",
    )
