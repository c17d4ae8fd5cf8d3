"""Reading label files: First Impressions pickles, CSV and JSON, into plain records.

Nothing here touches the database. Every problem is collected (not raised one at a
time) so a person sees all that is wrong with a file at once, with counts and examples.
"""

from __future__ import annotations

import csv
import json
import math
import pickle
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.config import VIDEO_EXTENSIONS
from storage.models import HASH_PREFIX, TARGETS

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
    "dev": "validation",
    "test": "test",
}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
CLIP_KEYS = ("clip_name", "clip", "file_name", "filename", "video", "videoname", "name")
HASH_KEYS = ("sha256", "hash", "content_hash")
TEXT_KEYS = ("transcript", "transcription", "text")
EXAMPLES = 3


@dataclass
class LabelRecord:
    """What one file says about one clip: scores, transcript, split (each may be absent)."""

    clip_name: str
    source: str
    scores: dict[str, float] | None = None
    transcript: str | None = None
    split: str | None = None


@dataclass
class Problems:
    """Problems by kind, with a count and the first few examples of each."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, example: str) -> None:
        """Record one problem of `kind`."""
        self.counts[kind] += 1
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(example)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def report(self) -> str:
        """One line per kind: count, kind and examples."""
        return "\n".join(
            f"  {n} x {kind}: e.g. {'; '.join(self.examples[kind])}"
            for kind, n in sorted(self.counts.items(), key=lambda kv: -kv[1])
        )


def split_from_name(path: Path) -> str | None:
    """'train' / 'validation' / 'test' when the file name says so (annotation_training.pkl)."""
    words = re.split(r"[^a-z]+", path.stem.lower())
    found = {SPLIT_ALIASES[w] for w in words if w in SPLIT_ALIASES}
    return found.pop() if len(found) == 1 else None


def normalise_split(value: Any) -> str | None:
    """A split name from a file or column, or None if it is not one of the known splits."""
    return SPLIT_ALIASES.get(str(value).strip().lower()) if value not in (None, "") else None


def group_of(clip_name: str) -> str | None:
    """The group a clip belongs to: for First Impressions, the YouTube id before the first
    dot; None for a clip known only by its content hash."""
    return None if clip_name.startswith(HASH_PREFIX) else clip_name.split(".", 1)[0] or None


def check_clip_name(name: Any) -> str | None:
    """Why `name` cannot be a clip name, or None when it is a plain video file name."""
    if not isinstance(name, str) or not name.strip():
        return f"not a file name: {name!r}"
    if "/" in name or "\\" in name or name != name.strip():
        return f"{name!r} must be a bare file name (no folders or surrounding spaces)"
    if name.rsplit(".", 1)[-1].lower() not in VIDEO_EXTENSIONS or "." not in name:
        return f"{name!r} does not end in a video extension ({', '.join(VIDEO_EXTENSIONS)})"
    return None


def parse_score(value: Any) -> tuple[float | None, str | None]:
    """(score, None) for a number in [0, 1], else (None, problem kind)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None, "wrong type"
    if isinstance(value, bool) or not hasattr(value, "__float__"):
        return None, "wrong type"
    score = float(value)
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        return None, "value outside [0, 1]"
    return score, None


def scores_from(row: dict[str, Any], where: str, problems: Problems) -> dict[str, float] | None:
    """The six scores of a row; records each missing or bad one and returns None then."""
    scores: dict[str, float] = {}
    for key in TARGETS:
        raw = row.get(key)
        if raw is None or raw == "":
            problems.add("missing trait", f"{where}: no {key}")
            continue
        score, kind = parse_score(raw)
        if kind:
            problems.add(kind, f"{where}: {key}={raw!r}")
        else:
            scores[key] = score
    return scores if len(scores) == len(TARGETS) else None


# Sizes no honest label file comes near (the First Impressions transcripts are at most
# ~600 characters, their largest file a few MB): past them a file is refused, named.
MAX_LABEL_FILE_BYTES = 64 * 1024 * 1024
MAX_TRANSCRIPT_CHARS = 20_000
MAX_PICKLE_DEPTH = 4  # {trait: {clip: score}} is two deep
NUMERIC_KINDS = "biuf"  # bool, int, unsigned, float: no objects, strings or records


class _NumpyScalarsOnly(pickle.Unpickler):
    """Unpickles plain data plus numpy numeric scalars; refuses any other class (pickles
    run code) and any scalar that is not a plain number of its own size (an object
    scalar built from raw bytes is a pointer that crashes the process when used)."""

    ALLOWED = {
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a label pickle")
        return _numeric_dtype if name == "dtype" else _numeric_scalar


def _numeric_dtype(spec: Any, *args: Any) -> Any:
    """`numpy.dtype(spec)` for a plain numeric type name only."""
    import numpy

    if not isinstance(spec, str) or len(spec) > 8:
        raise pickle.UnpicklingError(f"refusing the numpy type {spec!r} in a label pickle")
    dtype = numpy.dtype(spec)
    if dtype.kind not in NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"refusing the numpy type {spec!r} in a label pickle")
    return dtype


def _numeric_scalar(dtype: Any, data: Any = None) -> Any:
    """A numpy scalar, only of a plain numeric type and built from exactly its bytes
    (the type's pickled state may have been changed after `_numeric_dtype`)."""
    import numpy

    if isinstance(data, str):  # a Python 2 pickle's str, decoded as latin1
        data = data.encode("latin1")
    plain = (
        isinstance(dtype, numpy.dtype)
        and dtype.kind in NUMERIC_KINDS
        and not dtype.hasobject
        and dtype.fields is None
        and dtype.subdtype is None
        and isinstance(data, bytes)
        and len(data) == dtype.itemsize
    )
    if not plain:
        raise pickle.UnpicklingError("refusing a numpy scalar that is not a plain number")
    core = getattr(numpy, "_core", None) or numpy.core
    return float(core.multiarray.scalar(dtype, data))


def check_plain(value: Any, depth: int = 0) -> None:
    """Raise UnpicklingError unless `value` is dicts and lists of str, numbers and None,
    at most MAX_PICKLE_DEPTH deep: what label pickles hold, and nothing else."""
    if value is None or isinstance(value, str | int | float):
        return
    if depth >= MAX_PICKLE_DEPTH or not isinstance(value, dict | list | tuple):
        raise pickle.UnpicklingError(
            f"holds a {type(value).__name__} where label pickles hold only dicts of "
            "names, numbers and text"
        )
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(value, dict) and not isinstance(key, str | int | float):
            raise pickle.UnpicklingError(f"has a {type(key).__name__} key")
        check_plain(item, depth + 1)


def load_pickle(path: Path) -> Any:
    """A First Impressions pickle (Python 2, latin1): plain data and numeric numpy scalars
    (as floats) only, from a file of at most MAX_LABEL_FILE_BYTES."""
    check_size(path)
    with open(path, "rb") as fh:
        data = _NumpyScalarsOnly(fh, encoding="latin1").load()
    check_plain(data)
    return data


def check_size(path: Path) -> None:
    """Raise ValueError for a label file larger than MAX_LABEL_FILE_BYTES."""
    size = path.stat().st_size
    if size > MAX_LABEL_FILE_BYTES:
        raise ValueError(
            f"{size / 1e6:.0f} MB, more than the {MAX_LABEL_FILE_BYTES / 1e6:.0f} MB "
            "a label file may have"
        )


def checked_transcript(text: str, where: str, problems: Problems) -> str | None:
    """`text`, or None with a problem recorded when it is longer than a transcript can be."""
    if len(text) <= MAX_TRANSCRIPT_CHARS:
        return text
    problems.add(
        "transcript too long",
        f"{where}: {len(text):,} characters (at most {MAX_TRANSCRIPT_CHARS:,})",
    )
    return None


def read_label_file(path: Path, problems: Problems) -> list[LabelRecord] | None:
    """The records of one file; None when the file is not a label or transcript file at all."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".pkl", ".csv", ".json"):
            check_size(path)
        if suffix == ".pkl":
            return _from_pickle(path, problems)
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return rows_to_records(list(csv.DictReader(fh)), path, problems)
        if suffix == ".json":
            return _from_json(json.loads(path.read_text(encoding="utf-8")), path, problems)
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        pickle.UnpicklingError,
        EOFError,
        csv.Error,
        ValueError,
    ) as exc:
        problems.add("unreadable file", f"{path.name}: {exc}")
        return []
    except RecursionError:  # JSON nested deeper than the parser follows
        problems.add("unreadable file", f"{path.name}: nested too deeply to read as labels")
        return []
    return None


def _from_pickle(path: Path, problems: Problems) -> list[LabelRecord] | None:
    data = load_pickle(path)
    if not isinstance(data, dict) or not data:
        return None
    split = split_from_name(path)
    if all(isinstance(v, str) for v in data.values()):
        return _transcripts(data, path, split, problems)
    if set(TARGETS) & set(data) and all(isinstance(v, dict) for v in data.values()):
        return _from_annotation(data, path, split, problems)
    return None


def _transcripts(
    data: dict[Any, str], path: Path, split: str | None, problems: Problems
) -> list[LabelRecord]:
    """{clip: transcript}; refused when a transcript is too long, or when the texts add up
    to more characters than the file has bytes: one string reused (a pickle can repeat a
    reference), which would grow the database far beyond the file."""
    total = sum(len(v) for v in data.values())
    if total > path.stat().st_size:
        problems.add(
            "text repeated by reference",
            f"{path.name}: {total:,} characters of transcripts in a file of "
            f"{path.stat().st_size:,} bytes",
        )
        return []
    records = []
    for clip, text in data.items():
        kept = checked_transcript(text, f"{path.name} {clip}", problems)
        if kept is not None:
            records.append(LabelRecord(str(clip), path.name, transcript=kept, split=split))
    return records


def _from_annotation(
    data: dict[str, dict], path: Path, split: str | None, problems: Problems
) -> list[LabelRecord]:
    """{trait: {clip: score}} as in the First Impressions annotation pickles."""
    for key in set(data) - set(TARGETS):
        problems.add("unknown trait", f"{path.name}: {key!r}")
    clips = sorted({clip for scores in data.values() for clip in scores})
    records = []
    for clip in clips:
        row = {key: data.get(key, {}).get(clip) for key in TARGETS}
        scores = scores_from(row, f"{path.name} {clip}", problems)
        if scores is not None:
            records.append(LabelRecord(str(clip), path.name, scores=scores, split=split))
    return records


def _from_json(data: Any, path: Path, problems: Problems) -> list[LabelRecord] | None:
    if isinstance(data, dict) and any(k in data for k in TARGETS):
        rows = [data]  # one clip, as in a sidecar
    elif isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        rows = [{"clip_name": k, "transcript": v} for k, v in data.items()]
    elif isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        rows = [{"clip_name": k, **v} for k, v in data.items()]
    elif isinstance(data, list):
        rows = data
    else:
        return None
    if not all(isinstance(r, dict) for r in rows):
        problems.add("wrong type", f"{path.name}: expected objects with a clip name and scores")
        return []
    return rows_to_records(rows, path, problems)


def _clip_of(row: dict[str, Any]) -> str | None:
    for key in CLIP_KEYS:
        if row.get(key) not in (None, ""):
            return row[key]
    for key in HASH_KEYS:
        value = str(row.get(key) or "").strip().lower()
        if value:
            return HASH_PREFIX + value
    return None


def rows_to_records(rows: list[dict[str, Any]], path: Path, problems: Problems) -> list | None:
    """Rows with a clip name or content hash, the six scores and/or a transcript."""
    if not rows:
        return None
    rows = [{str(k).strip().lower(): v for k, v in r.items() if k is not None} for r in rows]
    columns = set().union(*rows)
    has_scores = bool(set(TARGETS) & columns)
    text_key = next((k for k in TEXT_KEYS if k in columns), None)
    if not has_scores and text_key is None:
        return None
    default_split = split_from_name(path)
    records = []
    for number, row in enumerate(rows, start=1):
        where = f"{path.name} row {number}"
        clip = _clip_of(row)
        if clip is None:
            problems.add("no clip name or content hash", where)
            continue
        if clip.startswith(HASH_PREFIX) and not _HEX64.match(clip[len(HASH_PREFIX) :]):
            problems.add("bad content hash", f"{where}: {clip}")
            continue
        split = normalise_split(row.get("split")) or default_split
        if row.get("split") not in (None, "") and normalise_split(row.get("split")) is None:
            problems.add("unknown split", f"{where}: {row.get('split')!r}")
        scores = scores_from(row, f"{where} ({clip})", problems) if has_scores else None
        text = row.get(text_key) if text_key else None
        if text is not None and not isinstance(text, str):
            problems.add("wrong type", f"{where}: {text_key} is not text")
            text = None
        if text is not None and checked_transcript(text, f"{where} ({clip})", problems) is None:
            continue
        if has_scores and scores is None:
            continue
        records.append(LabelRecord(str(clip), path.name, scores, text, split))
    return records
