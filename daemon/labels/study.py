"""Labels of a declared target set (`[targets.NAME]`): read from CSV and JSON files or a
sidecar, validated against the declared scales, stored in `study_labels`.

A file has one row per clip: a clip key (a clip name such as `p01_interview.mp4`, or a
`sha256`), optionally its `split` and `group` (the participant: grouped K-fold keeps a
group on one side), and one column per target of the set. An empty cell is a missing
rating (a clip may lack some targets). Any other column is refused by name, so that a
misspelt target is never dropped silently. Every value must lie on its target's
declared scale; on any problem nothing is written, and the problems name the file, the
row (1-based data row; a JSON object's key) and the target.

First Impressions' own labels stay in the `labels` table (daemon/labels/store.py).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from daemon.labels.files import (
    _HEX64,
    CLIP_KEYS,
    HASH_KEYS,
    TEXT_KEYS,
    Problems,
    check_clip_name,
    check_size,
    group_of,
    normalise_split,
    split_from_name,
)
from daemon.labels.store import refused, resolve_hashes
from daemon.targets import Target, TargetSet
from storage.db import Database, utcnow
from storage.models import HASH_PREFIX, StudyLabel

GROUP_KEYS = ("group", "group_id", "participant", "participant_id")
# Keys a study label file may hold besides its targets: the clip, its split and group,
# and text that is not a rating (a transcript is not stored with a study's ratings).
NON_TARGET_KEYS = frozenset(
    {*CLIP_KEYS, *HASH_KEYS, *TEXT_KEYS, *GROUP_KEYS, "split", "set", "source", "description"}
)
FILE_SUFFIXES = (".csv", ".json")
MAX_CLIP_CHARS = 512  # the column's size
MAX_GROUP_CHARS = 128


@dataclass
class StudyRecord:
    """What one row says about one clip: its ratings on the declared scales."""

    clip_name: str
    where: str  # "hiring.csv row 3", for messages
    source: str  # the file name, stored with each rating
    values: dict[str, float]
    split: str | None = None
    group: str | None = None


@dataclass
class StudyImportReport:
    """What a study import did (or, in a dry run, would do); counts are of ratings."""

    target_set: str
    files: list[str] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    clips: int = 0
    by_target: dict[str, int] = field(default_factory=dict)
    by_split: dict[str, int] = field(default_factory=dict)  # clips per split
    empty_rows: int = 0  # rows with a clip and no rating: nothing to store
    ignored_columns: list[str] = field(default_factory=list)  # e.g. transcript
    touched: list[str] = field(default_factory=list)  # clip keys added or changed


@dataclass(frozen=True)
class StudyRating:
    """What a set's labels say about one clip key (clip name or `sha256:<hex>`)."""

    clip_name: str
    group_id: str | None  # as given by the labels; see `group`
    split: str | None  # None: no split given (counts as train)
    values: dict[str, float]  # on the declared scales; targets not rated are absent

    @property
    def group(self) -> str:
        """The group for grouped folds: the given one, else the clip's as training takes
        it (the name before its first dot), else the clip key itself."""
        return self.group_id or group_of(self.clip_name) or self.clip_name


# Reading


def blank(value: Any) -> bool:
    """True for an empty cell: a missing rating."""
    return value is None or (isinstance(value, str) and not value.strip())


def unknown_keys(keys: Iterable[str], target_set: TargetSet) -> list[str]:
    """The keys that are neither targets of the set nor known non-target keys."""
    known = {*target_set.names, *NON_TARGET_KEYS}
    return sorted({k for k in keys if k not in known})


def describe_unknown(names: list[str], target_set: TargetSet) -> str:
    """ "'hirability' (the targets of hiring are hireability, warmth)"."""
    return (
        f"{', '.join(repr(n) for n in names)} (the targets of {target_set.name} are "
        f"{', '.join(target_set.names)})"
    )


def parse_value(raw: Any, target: Target) -> tuple[float | None, str | None, str | None]:
    """(value, None, None); (None, None, None) for an empty cell (a missing rating); or
    (None, problem kind, why) for a value that is not a rating on the target's scale."""
    if blank(raw):
        return None, None, None
    value = raw
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None, "not a number", f"{raw!r} is not a number"
    why = target.problem(value)
    if why is None:
        return float(value), None, None
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    kind = "value outside the scale" if numeric and math.isfinite(value) else "not a number"
    return None, kind, why


def _key_of(row: dict[str, Any], keys: Iterable[str], target_set: TargetSet) -> Any:
    for key in keys:
        if key not in target_set.names and row.get(key) not in (None, ""):
            return row[key]
    return None


def _clip_of(row: dict[str, Any], where: str, target_set: TargetSet, problems: Problems):
    """The row's clip key (a clip name or `sha256:<hex>`), or None with the problem noted."""
    name = _key_of(row, CLIP_KEYS, target_set)
    if name is not None:
        bad = check_clip_name(name)
        if bad is None and len(name) > MAX_CLIP_CHARS:
            bad = f"a clip name of {len(name)} characters (at most {MAX_CLIP_CHARS})"
        if bad:
            problems.add("unknown clip name", f"{where}: {bad}")
            return None
        return name
    sha = _key_of(row, HASH_KEYS, target_set)
    if sha is None:
        problems.add(
            "no clip name or content hash",
            f"{where}: give the clip in one of {', '.join(CLIP_KEYS[:3])} or sha256",
        )
        return None
    sha = str(sha).strip().lower()
    if not _HEX64.match(sha):
        problems.add("bad content hash", f"{where}: {sha!r} is not 64 hex digits")
        return None
    return HASH_PREFIX + sha


def _group_of(row: dict[str, Any], where: str, target_set: TargetSet, problems: Problems):
    value = _key_of(row, GROUP_KEYS, target_set)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.add("bad group", f"{where}: {value!r} is not a participant id")
        return None
    group = str(value).strip()
    if len(group) > MAX_GROUP_CHARS:
        problems.add("bad group", f"{where}: {len(group)} characters (at most {MAX_GROUP_CHARS})")
        return None
    return group or None


def row_to_record(
    row: dict[str, Any],
    target_set: TargetSet,
    where: str,
    source: str,
    problems: Problems,
    default_split: str | None = None,
) -> StudyRecord | None:
    """One row (keys already lower-case) as a record, or None when the row is refused
    (its problems recorded) or has no rating at all (no problem: nothing to store)."""
    named = row.get("set")
    if named not in (None, "", target_set.name):
        problems.add("another set", f"{where}: labels {named!r}, not {target_set.name}")
        return None
    clip = _clip_of(row, where, target_set, problems)
    raw_split = row.get("split")
    split = normalise_split(raw_split)
    if raw_split not in (None, "") and split is None:
        problems.add("unknown split", f"{where}: {raw_split!r} (train, validation or test)")
    group = _group_of(row, where, target_set, problems)
    shown = f"{where} ({clip})" if clip else where
    values: dict[str, float] = {}
    bad = False
    for target in target_set.targets:
        value, kind, why = parse_value(row.get(target.name), target)
        if kind:
            problems.add(kind, f"{shown} {target.name}: {why}")
            bad = True
        elif value is not None:
            values[target.name] = value
    if clip is None or bad or not values:
        return None
    return StudyRecord(clip, where, source, values, split or default_split, group)


def rows_to_study_records(
    rows: list[tuple[str, dict[str, Any]]],
    target_set: TargetSet,
    path: Path,
    problems: Problems,
    report: StudyImportReport | None = None,
) -> list[StudyRecord]:
    """(where, row) pairs of one file as records; unknown columns refuse the file."""
    rows = [(w, {str(k).strip().lower(): v for k, v in r.items()}) for w, r in rows]
    columns = set().union(*(r for _, r in rows)) if rows else set()
    unknown = unknown_keys(columns, target_set)
    if unknown:
        problems.add("unknown column", f"{path.name}: {describe_unknown(unknown, target_set)}")
        return []
    if not columns & set(target_set.names):
        problems.add(
            "no target column",
            f"{path.name}: none of {', '.join(target_set.names)} among its columns",
        )
        return []
    if report is not None:
        report.ignored_columns += sorted(columns & {*TEXT_KEYS, "source", "description"})
    default_split = split_from_name(path)
    records = []
    for where, row in rows:
        record = row_to_record(row, target_set, where, path.name, problems, default_split)
        if record is not None:
            records.append(record)
        elif report is not None and all(blank(row.get(t)) for t in target_set.names):
            report.empty_rows += 1
    return records


def _csv_rows(path: Path, problems: Problems) -> list[tuple[str, dict[str, Any]]] | None:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        rows = []
        for number, row in enumerate(reader, start=1):
            if None in row:  # more cells than the header has names
                problems.add(
                    "malformed file",
                    f"{path.name} row {number}: {len(row[None])} more cells than the header "
                    "has columns",
                )
                return None
            rows.append((f"{path.name} row {number}", row))
    return rows


def _json_rows(
    data: Any, path: Path, target_set: TargetSet, problems: Problems
) -> list[tuple[str, dict[str, Any]]] | None:
    """A list of objects (one per clip), an object of objects keyed by clip name, or one
    object for one clip."""
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return [(f'{path.name} "{k}"', {"clip_name": k, **v}) for k, v in data.items()]
    if isinstance(data, dict) and set(data) & {*target_set.names, *CLIP_KEYS, *HASH_KEYS}:
        return [(path.name, data)]
    if isinstance(data, list):
        for number, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                problems.add(
                    "malformed file",
                    f"{path.name} row {number}: {type(item).__name__} where an object with a "
                    "clip name and ratings belongs",
                )
                return None
        return [(f"{path.name} row {n}", row) for n, row in enumerate(data, start=1)]
    problems.add(
        "malformed file",
        f"{path.name}: expected a list of objects (one per clip) or an object of objects "
        "keyed by clip name",
    )
    return None


def read_study_file(
    path: Path,
    target_set: TargetSet,
    problems: Problems,
    report: StudyImportReport | None = None,
) -> list[StudyRecord]:
    """The records of one CSV or JSON file of the set; problems are recorded, not raised."""
    if path.suffix.lower() not in FILE_SUFFIXES:
        problems.add(
            "not a label file",
            f"{path.name}: labels of {target_set.name} are read from .csv and .json files",
        )
        return []
    try:
        check_size(path)
        if path.suffix.lower() == ".csv":
            rows = _csv_rows(path, problems)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = _json_rows(data, path, target_set, problems)
    except RecursionError:
        problems.add("unreadable file", f"{path.name}: nested too deeply to read")
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error, ValueError) as exc:
        problems.add("unreadable file", f"{path.name}: {exc}")
        return []
    if rows is None:
        return []
    if not rows:
        problems.add("no rows", f"{path.name}: no clip in it")
        return []
    return rows_to_study_records(rows, target_set, path, problems, report)


def _expand(paths: Iterable[Path], problems: Problems) -> list[Path]:
    """Files as given; a folder stands for the .csv and .json files directly in it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in FILE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            problems.add("file not found", str(path))
    return files


# Writing


@dataclass
class _Merged:
    """Everything one import says about one clip of the set."""

    values: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # value, source, where
    split: tuple[str, str] | None = None  # value, where
    group: tuple[str, str] | None = None


def _merge(records: list[StudyRecord], problems: Problems) -> dict[str, _Merged]:
    """One entry per clip; two different values for one rating, split or group conflict."""
    merged: dict[str, _Merged] = {}
    for r in records:
        m = merged.setdefault(r.clip_name, _Merged())
        for target, value in r.values.items():
            old = m.values.get(target)
            if old is not None and old[0] != value:
                problems.add(
                    "conflicting value",
                    f"{r.clip_name} {target}: {old[0]:g} ({old[2]}) and {value:g} ({r.where})",
                )
            elif old is None:
                m.values[target] = (value, r.source, r.where)
        for attr in ("split", "group"):
            new, old = getattr(r, attr), getattr(m, attr)
            if new is not None and old is not None and old[0] != new:
                problems.add(
                    f"conflicting {attr}",
                    f"{r.clip_name}: {old[0]!r} ({old[1]}) and {new!r} ({r.where})",
                )
            elif new is not None and old is None:
                setattr(m, attr, (new, r.where))
    return merged


def write_study_records(
    session: Session,
    target_set: TargetSet,
    records: list[StudyRecord],
    problems: Problems,
    report: StudyImportReport,
) -> None:
    """Validate the records together and upsert them on (set, clip, target) in the
    caller's transaction; raises LabelImportError, having written nothing, on any
    problem (those found reading the files included)."""
    resolve_hashes(session, records)
    merged = _merge(records, problems)
    if problems:
        raise refused(problems)
    # The set's rows at once: an IN list of thousands of names exceeds SQLite's limit.
    existing: dict[str, dict[str, StudyLabel]] = {}
    for row in session.scalars(select(StudyLabel).where(StudyLabel.target_set == target_set.name)):
        existing.setdefault(row.clip_name, {})[row.target] = row
    now = utcnow()
    for clip in sorted(merged):
        _apply(session, target_set.name, clip, merged[clip], existing.get(clip, {}), now, report)


def _apply(
    session: Session,
    set_name: str,
    clip: str,
    m: _Merged,
    rows: dict[str, StudyLabel],
    now: Any,
    report: StudyImportReport,
) -> None:
    """Upsert one clip's ratings; a split or group given applies to all its ratings in
    the set, and a new rating takes the clip's split and group when none is given."""
    before = sum((report.added, report.changed))
    split = m.split[0] if m.split else next((r.split for r in rows.values() if r.split), None)
    group = m.group[0] if m.group else next((r.group_id for r in rows.values() if r.group_id), None)
    for target, (value, source, _) in m.values.items():
        row = rows.get(target)
        if row is None:
            session.add(
                StudyLabel(
                    target_set=set_name,
                    clip_name=clip,
                    target=target,
                    value=value,
                    group_id=group,
                    split=split,
                    source=source,
                    imported_at=now,
                )  # fmt: skip
            )
            report.added += 1
        elif (row.value, row.source, row.split, row.group_id) != (value, source, split, group):
            row.value, row.source, row.split, row.group_id = value, source, split, group
            row.imported_at = now
            report.changed += 1
        else:
            report.unchanged += 1
        report.by_target[target] = report.by_target.get(target, 0) + 1
    for target, row in rows.items():  # ratings of the clip this import does not give
        if target not in m.values and (row.split, row.group_id) != (split, group):
            row.split, row.group_id, row.imported_at = split, group, now
            report.changed += 1
    report.clips += 1
    key = split or "no split"
    report.by_split[key] = report.by_split.get(key, 0) + 1
    if sum((report.added, report.changed)) > before:
        report.touched.append(clip)


def import_study_labels(
    db: Database,
    target_set: TargetSet,
    paths: Iterable[Path],
    split: str | None = None,
    dry_run: bool = False,
) -> StudyImportReport:
    """Read and validate every file, then write all ratings in one transaction, or
    nothing (LabelImportError listing every problem). `split` overrides the files'."""
    problems, report = Problems(), StudyImportReport(target_set.name)
    records: list[StudyRecord] = []
    for path in _expand([Path(p) for p in paths], problems):
        records += read_study_file(path, target_set, problems, report)
        report.files.append(path.name)
    report.ignored_columns = sorted(set(report.ignored_columns))
    for record in records:
        record.split = split or record.split
    with db.write() as session:
        write_study_records(session, target_set, records, problems, report)
        if dry_run:
            session.rollback()
    return report


# Reading back


def _split_filter(split: str):  # a SQLAlchemy clause
    if split == "train":
        return or_(StudyLabel.split == "train", StudyLabel.split.is_(None))
    return StudyLabel.split == split


def study_ratings(db: Database, set_name: str, split: str | None = None) -> dict[str, StudyRating]:
    """Every rated clip key of a declared set, with its group, split and ratings on the
    declared scales (targets not rated are absent); `split` None: every split, "train":
    also the ratings without a split (as training reads them)."""
    stmt = select(StudyLabel).where(StudyLabel.target_set == set_name)
    if split is not None:
        stmt = stmt.where(_split_filter(split))
    values: dict[str, dict[str, float]] = {}
    groups: dict[str, str | None] = {}
    splits: dict[str, str | None] = {}
    with db.read() as session:
        for row in session.scalars(stmt.order_by(StudyLabel.clip_name, StudyLabel.id)):
            values.setdefault(row.clip_name, {})[row.target] = row.value
            groups[row.clip_name] = groups.get(row.clip_name) or row.group_id
            splits[row.clip_name] = splits.get(row.clip_name) or row.split
    return {
        clip: StudyRating(clip, groups[clip], splits[clip], rated) for clip, rated in values.items()
    }


def ratings_for_video(session: Session, set_name: str, name: str, sha256: str) -> dict[str, float]:
    """A video's ratings in a set, by its clip name or its content hash (the name wins
    for a target rated both ways); {} when it has none."""
    keys = (HASH_PREFIX + sha256, name)
    stmt = select(StudyLabel).where(
        StudyLabel.target_set == set_name, StudyLabel.clip_name.in_(keys)
    )
    rows = sorted(session.scalars(stmt), key=lambda r: keys.index(r.clip_name))
    return {row.target: row.value for row in rows}


def study_label_counts(session: Session) -> dict[str, dict[str, Any]]:
    """Per set with ratings: {"clips": n, "ratings": n, "targets": {target: n}}."""
    counts: dict[str, dict[str, Any]] = {}
    stmt = select(StudyLabel.target_set, StudyLabel.target, func.count())
    for set_name, target, n in session.execute(
        stmt.group_by(StudyLabel.target_set, StudyLabel.target).order_by(
            StudyLabel.target_set, StudyLabel.target
        )
    ):
        entry = counts.setdefault(set_name, {"clips": 0, "ratings": 0, "targets": {}})
        entry["ratings"] += n
        entry["targets"][target] = n
    clips = select(StudyLabel.target_set, func.count(func.distinct(StudyLabel.clip_name)))
    for set_name, n in session.execute(clips.group_by(StudyLabel.target_set)):
        counts[set_name]["clips"] = n
    return counts
