"""Reference norms shipped with lprd: versioned data the description compares against.

The norms live in `norms.json` beside this module. They are never computed from the
videos in the database, so a description depends only on its own video and this file.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

NORMS_FILE = Path(__file__).with_name("norms.json")


@dataclass(frozen=True)
class Norm:
    """One scale split into bands, each read as a phrase."""

    name: str
    unit: str
    cuts: tuple[float, ...]
    words: tuple[str, ...]
    basis: str

    def phrase(self, value: float) -> str:
        """The phrase for `value`: words[i] where value < cuts[i], else the last word."""
        return self.words[bisect.bisect_right(self.cuts, value)]


@dataclass(frozen=True)
class Norms:
    """The whole shipped table with its version."""

    version: str
    norms: dict[str, Norm]

    def phrase(self, name: str, value: float) -> str:
        """The comparison phrase for a measurement, e.g. 'faster than most speakers'."""
        return self.norms[name].phrase(value)


def parse_norms(raw: dict) -> Norms:
    """Validate the JSON structure; raises ValueError naming the bad entry."""
    norms: dict[str, Norm] = {}
    for name, entry in raw["norms"].items():
        cuts = tuple(float(c) for c in entry["cuts"])
        words = tuple(str(w) for w in entry["words"])
        if list(cuts) != sorted(cuts) or len(words) != len(cuts) + 1:
            raise ValueError(f"norm {name!r}: cuts must ascend and words be one more than cuts")
        if not entry.get("basis"):
            raise ValueError(f"norm {name!r} does not say where its values come from")
        norms[name] = Norm(name, str(entry["unit"]), cuts, words, str(entry["basis"]))
    return Norms(version=str(raw["version"]), norms=norms)


@cache
def load_norms() -> Norms:
    """The norms shipped with this lprd version."""
    return parse_norms(json.loads(NORMS_FILE.read_text(encoding="utf-8")))
