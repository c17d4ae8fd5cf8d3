"""Config section for the describe stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from daemon.config.base import Section


class DescribeConfig(Section):
    transcript: Literal["asr", "official"] = Field(
        "asr", description="Which transcript the description quotes when a label file provides one."
    )
    max_tokens: int = Field(
        1024,
        ge=256,
        le=16384,
        description=(
            "Length budget of a description in estimated tokens; measurements are dropped "
            "first and the transcript is shortened last."
        ),
    )
    segment_s: float = Field(
        15.0,
        ge=5.0,
        le=600.0,
        description=(
            "Length of the segments a long video is described and scored in, cut at pauses "
            "of the subject's speech; the First Impressions training clips last 15 s."
        ),
    )
    segment_over_s: float = Field(
        30.0,
        ge=5.0,
        le=86_400.0,
        description=(
            "Videos longer than this are described and scored as segments of `segment_s`; "
            "shorter ones are scored whole, like the training clips."
        ),
    )

    @model_validator(mode="after")
    def _segments_fit(self) -> DescribeConfig:
        if self.segment_over_s < self.segment_s:
            raise ValueError(
                f"describe.segment_over_s ({self.segment_over_s:g}) must be at least "
                f"describe.segment_s ({self.segment_s:g})"
            )
        return self
