"""Target sets: what a model predicts, on which scales, and how the ends of each scale read.

Inside lprd every model learns and predicts in unit space ([0, 1] per target: the
declared scale mapped linearly); what is stored for people to read (predictions, labels,
exports, reports) is on the declared scale. First Impressions' set is built in and its
scale already is [0, 1], so for it the two are the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from daemon.config import Config
from daemon.config.targets import BUILTIN_SET, FI_COLUMNS, TargetSetSpec
from daemon.errors import LprdError

TRAITS = FI_COLUMNS[:5]
# First Impressions' targets in words; `neuroticism` there behaves as emotional stability.
FI_WORDS = {
    "openness": ("Openness", "curious, imaginative", "Openness to experience"),
    "conscientiousness": ("Conscientiousness", "organised, dependable", "Conscientiousness"),
    "extraversion": ("Extraversion", "outgoing, energetic", "Extraversion"),
    "agreeableness": ("Agreeableness", "friendly, warm", "Agreeableness"),
    "neuroticism": (
        "Emotional stability",
        "calm (dataset column 'neuroticism')",
        "Emotional stability (the dataset's 'neuroticism' column; high = calm)",
    ),
    "interview": (
        "Interview",
        "would be invited to an interview",
        "Whether the person would be invited to a job interview",
    ),
}


@dataclass(frozen=True)
class Target:
    """One target: its name, scale and the words for its ends."""

    name: str
    description: str
    low: float
    high: float
    low_words: str
    high_words: str
    fi_column: str | None = None

    @property
    def title(self) -> str:
        """How tables name it ('Emotional stability' for First Impressions' neuroticism)."""
        if self.fi_column == self.name and self.name in FI_WORDS:
            return FI_WORDS[self.name][0]
        return self.name.replace("_", " ").capitalize()

    @property
    def span(self) -> float:
        return self.high - self.low

    def to_unit(self, value: float) -> float:
        """The declared-scale value in [0, 1]."""
        return (value - self.low) / self.span

    def from_unit(self, value: float) -> float:
        """A unit-space value back on the declared scale."""
        return self.low + value * self.span

    def problem(self, value: Any) -> str | None:
        """Why `value` is not a valid rating on this scale, or None."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number"
        if not math.isfinite(value):
            return f"{value!r} is not a finite number"
        if not self.low <= value <= self.high:
            return f"{value:g} is outside the scale {self.low:g}..{self.high:g}"
        return None

    def direction(self) -> str:
        """'high = ...' wording for tables."""
        if self.high_words and self.low_words:
            return f"high = {self.high_words}; low = {self.low_words}"
        if self.high_words:
            return f"high = {self.high_words}"
        return f"scale {self.low:g}..{self.high:g}"


@dataclass(frozen=True)
class TargetSet:
    """A study's targets in their declared order."""

    name: str
    description: str
    targets: tuple[Target, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    @property
    def builtin(self) -> bool:
        return self.name == BUILTIN_SET

    @property
    def headline(self) -> tuple[str, ...]:
        """The targets mean accuracy averages: the five traits for First Impressions (as
        the challenge reports it), every target of any other set."""
        return TRAITS if self.builtin else self.names

    @property
    def unit_scale(self) -> bool:
        return all(t.low == 0.0 and t.high == 1.0 for t in self.targets)

    def get(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)

    def to_unit(self, scores: dict[str, float]) -> dict[str, float]:
        """Declared-scale values (a subset of the targets) in unit space."""
        return {k: self.get(k).to_unit(v) for k, v in scores.items()}

    def from_unit(self, scores: dict[str, float]) -> dict[str, float]:
        """Unit-space values (a subset of the targets) on the declared scales."""
        return {k: self.get(k).from_unit(v) for k, v in scores.items()}

    def describe(self) -> dict[str, Any]:
        """The set as plain data (recorded with models and written beside exports)."""
        return {
            "name": self.name,
            "description": self.description,
            "targets": [
                {"name": t.name, "description": t.description, "min": t.low, "max": t.high,
                 "low": t.low_words, "high": t.high_words, "first_impressions": t.fi_column}
                for t in self.targets
            ],
        }  # fmt: skip


def first_impressions() -> TargetSet:
    """The built-in set: the Big Five and the interview score of First Impressions, 0..1."""
    targets = tuple(
        Target(name, FI_WORDS[name][2], 0.0, 1.0, "", FI_WORDS[name][1], name)
        for name in FI_COLUMNS
    )
    return TargetSet(BUILTIN_SET, "ChaLearn First Impressions V2 (built in)", targets)


def from_spec(name: str, spec: TargetSetSpec) -> TargetSet:
    """A declared set from its config section."""
    targets = tuple(
        Target(key, t.description, t.min, t.max, t.low, t.high, t.first_impressions)
        for key, t in spec.targets.items()
    )
    return TargetSet(name, spec.description, targets)


def target_sets(config: Config | None) -> dict[str, TargetSet]:
    """Every set: the built-in one first, then the declared ones in config order."""
    sets = {BUILTIN_SET: first_impressions()}
    if config is not None:
        sets.update({name: from_spec(name, spec) for name, spec in config.targets.items()})
    return sets


def get_set(config: Config | None, name: str | None) -> TargetSet:
    """The named set (None: the built-in one), or an error naming the declared ones."""
    sets = target_sets(config)
    name = name or BUILTIN_SET
    if name not in sets:
        raise LprdError(
            f"no target set {name!r}: declared sets are {', '.join(sets)} "
            f"(declare one as [targets.{name}] in the config file)"
        )
    return sets[name]


def described_set(data: Any) -> TargetSet | None:
    """`from_description` of what a model or a prediction recorded, or None when it
    recorded no set or one that does not read as a set."""
    if not isinstance(data, dict):
        return None
    try:
        return from_description(data)
    except (KeyError, TypeError, ValueError):
        return None


def from_description(data: dict[str, Any]) -> TargetSet:
    """A set back from `TargetSet.describe()` (as recorded with a model)."""
    targets = tuple(
        Target(
            t["name"],
            t.get("description", ""),
            float(t["min"]),
            float(t["max"]),
            t.get("low", ""),
            t.get("high", ""),
            t.get("first_impressions"),
        )  # fmt: skip
        for t in data["targets"]
    )
    return TargetSet(data["name"], data.get("description", ""), targets)
