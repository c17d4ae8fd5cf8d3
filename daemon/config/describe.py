"""Config section for the describe stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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
