"""`[targets.NAME]`: a study's own target set (its rating scales), declared in config.

    [targets.hiring]
    description = "Hireability panel, spring 2027"
    hireability = { min = 1, max = 7, low = "would not hire", high = "would hire",
                    first_impressions = "interview" }
    warmth = { min = 0, max = 100, description = "How warm the person comes across" }

Every key of a set other than `description` declares one target. The First Impressions
set (`first_impressions`: the Big Five and the interview score in [0, 1]) is built in and
cannot be redeclared.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import Field, model_validator

from daemon.config.base import Section

NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
BUILTIN_SET = "first_impressions"
FI_COLUMNS = (
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
    "interview",
)
# Keys a label file may use for other things than scores: never target names.
RESERVED = {"description", "set", "split", "group", "group_id", "transcript", "sha256",
            "clip_name", "clip", "source"}  # fmt: skip


class TargetSpec(Section):
    """One target: its scale and how its ends read."""

    description: str = Field("", description="What the rating measures.")
    min: float = Field(0.0, description="The lowest value of the scale.")
    max: float = Field(1.0, description="The highest value of the scale.")
    low: str = Field("", description="What a low value means, in words (for reports).")
    high: str = Field("", description="What a high value means, in words (for reports).")
    first_impressions: str | None = Field(
        None, description="The First Impressions column this target corresponds to, if any."
    )

    @model_validator(mode="after")
    def _check(self) -> TargetSpec:
        if not (math.isfinite(self.min) and math.isfinite(self.max)) or self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        if self.first_impressions is not None and self.first_impressions not in FI_COLUMNS:
            raise ValueError(
                f"first_impressions = {self.first_impressions!r} is not one of "
                + ", ".join(FI_COLUMNS)
            )
        return self


class TargetSetSpec(Section):
    """A study's targets, in the order they are declared."""

    description: str = Field("", description="What the study rates.")
    targets: dict[str, TargetSpec] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        """Every key but `description` (and an explicit `targets` table) is a target."""
        if not isinstance(data, dict):
            return data
        targets = dict(data.get("targets") or {})
        for key, value in data.items():
            if key not in ("description", "targets"):
                targets[key] = value
        return {"description": data.get("description", ""), "targets": targets}

    @model_validator(mode="after")
    def _check(self) -> TargetSetSpec:
        if not self.targets:
            raise ValueError("declares no target: add e.g. `rating = { min = 1, max = 7 }`")
        for name in self.targets:
            if not NAME.match(name) or name in RESERVED:
                raise ValueError(
                    f"target name {name!r}: use lower-case letters, digits and '_', starting "
                    f"with a letter, and none of {', '.join(sorted(RESERVED))}"
                )
        return self


def check_set_names(sets: dict[str, TargetSetSpec]) -> dict[str, TargetSetSpec]:
    """Set names are identifiers; the built-in set's name is taken."""
    for name in sets:
        if name == BUILTIN_SET:
            raise ValueError(f"[targets.{BUILTIN_SET}] is built in and cannot be redeclared")
        if not NAME.match(name):
            raise ValueError(
                f"target set name {name!r}: use lower-case letters, digits and '_', "
                "starting with a letter"
            )
    return sets
