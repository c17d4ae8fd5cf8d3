"""Reference norms: versioned data the description compares against.

The shipped norms live in `norms.json` beside this module. `lprd norms rebuild` writes
HOME/norms.json from the videos processed in that home (daemon/text/norms_build.py); its
entries replace the shipped ones measure by measure, and its version becomes part of the
norms version, so a rebuild re-queues `describe` as a template change does.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

NORMS_FILE = Path(__file__).with_name("norms.json")
LOCAL_NAME = "norms.json"  # in the lprd home, written by `lprd norms rebuild`


@dataclass(frozen=True)
class Norm:
    """One scale split into bands, each read as a phrase."""

    name: str
    unit: str
    cuts: tuple[float, ...]
    words: tuple[str, ...]
    basis: str
    quantity: str = ""  # what is compared; a description compares each quantity once
    clips: int = 0  # how many clips the cuts were measured on (0: from the literature)

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

    def compared_bands(self, text: str) -> dict[str, set[int]]:
        """{quantity: the bands its comparison phrases in `text` name}. A quantity with two
        bands is a contradiction. A longer phrase wins over one it contains ("much faster
        than most" is not also "faster than most"); a phrase counts where a comparison
        stands, closing a parenthesis ("a clear smile" is no harmonics-to-noise "clear");
        a phrase several norms share belongs to the norm whose name's first word ("pitch",
        "speech") comes last before it."""
        phrases: dict[str, list[tuple[Norm, int]]] = {}
        for norm in self.norms.values():
            for band, words in enumerate(norm.words):
                phrases.setdefault(words, []).append((norm, band))
        taken: list[tuple[int, int]] = []
        bands: dict[str, set[int]] = {}
        for phrase in sorted(phrases, key=len, reverse=True):
            start = text.find(phrase)
            while start >= 0:
                end = start + len(phrase)
                opens = text[start - 1 : start] == "(" or text[start - 2 : start] == ", "
                if (
                    opens
                    and text[end : end + 1] == ")"
                    and not any(a <= start < b for a, b in taken)
                ):
                    taken.append((start, end))
                    norm, band = max(
                        phrases[phrase],
                        key=lambda nb: text.rfind(nb[0].name.split("_")[0], 0, start),
                    )
                    bands.setdefault(norm.quantity, set()).add(band)
                start = text.find(phrase, start + 1)
        return bands


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
        sample = entry.get("sample") or {}
        norms[name] = Norm(
            name, str(entry["unit"]), cuts, words, str(entry["basis"]),
            quantity=str(entry.get("quantity") or name), clips=int(sample.get("clips") or 0),
        )  # fmt: skip
    return Norms(version=str(raw["version"]), norms=norms)


@cache
def _read(path: Path, mtime_ns: int) -> Norms:
    return parse_norms(json.loads(path.read_text(encoding="utf-8")))


def load_norms(home: Path | None = None) -> Norms:
    """The shipped norms, overlaid with HOME/norms.json when `home` has one."""
    shipped = _read(NORMS_FILE, NORMS_FILE.stat().st_mtime_ns)
    local = home / LOCAL_NAME if home is not None else None
    if local is None or not local.is_file():
        return shipped
    try:
        mine = _read(local, local.stat().st_mtime_ns)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{local} is not a valid norms file: {exc}") from exc
    return Norms(f"{shipped.version}+{mine.version}", {**shipped.norms, **mine.norms})
