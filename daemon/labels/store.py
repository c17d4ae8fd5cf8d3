"""Importing labels into the database, all or nothing, and finding a video's label.

Labels are keyed by clip name (the video file name, e.g. `J4GQm9j0JZ0.003.mp4`), so they
attach to a video whenever it arrives, before or after the labels. A label given only by
content hash is stored as `sha256:<hex>` until a video with that content is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from daemon.errors import LprdError
from daemon.labels.files import (
    LabelRecord,
    Problems,
    check_clip_name,
    group_of,
    read_label_file,
)
from storage.db import Database, utcnow
from storage.models import HASH_PREFIX, TARGETS, Label, Video

NEUROTICISM_NOTE = (
    "'neuroticism' is stored under its First Impressions name but behaves as emotional "
    "stability: higher means calmer."
)


class LabelImportError(LprdError):
    """A label import found problems; nothing was written."""


@dataclass
class Merged:
    """Everything one import says about one clip."""

    clip_name: str
    source: str | None = None
    scores: dict[str, float] | None = None
    transcript: str | None = None
    split: str | None = None


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    files: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    with_scores: int = 0
    with_transcripts: int = 0
    by_split: dict[str, int] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)  # clip names added or changed


def expand_paths(paths: Iterable[Path], problems: Problems) -> list[Path]:
    """Files as given; a folder stands for the .pkl, .csv and .json files directly in it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.iterdir() if p.suffix.lower() in (".pkl", ".csv", ".json")
            )
        elif path.is_file():
            files.append(path)
        else:
            problems.add("file not found", str(path))
    return files


def read_records(
    paths: Iterable[Path], problems: Problems, report: ImportReport, split: str | None = None
) -> list[LabelRecord]:
    """All records of the given files; unrecognised files are errors unless found in a folder."""
    given = {Path(p) for p in paths}
    records: list[LabelRecord] = []
    for path in expand_paths(given, problems):
        found = read_label_file(path, problems)
        if found is None:
            if path in given:
                problems.add("not a label or transcript file", path.name)
            else:
                report.ignored.append(path.name)
            continue
        report.files.append(path.name)
        for record in found:
            record.split = split or record.split
        records += found
    return records


def resolve_hashes(session: Session, records: Sequence[Any]) -> None:
    """`sha256:<hex>` keys of videos already known become their clip names (each record
    has a mutable `clip_name`)."""
    hashes = {
        r.clip_name[len(HASH_PREFIX) :] for r in records if r.clip_name.startswith(HASH_PREFIX)
    }
    if not hashes:
        return
    query = select(Video.sha256, Video.name).where(Video.sha256.in_(hashes))
    names = {sha: name for sha, name in session.execute(query)}
    for record in records:
        sha = record.clip_name[len(HASH_PREFIX) :]
        if record.clip_name.startswith(HASH_PREFIX) and sha in names:
            record.clip_name = names[sha]


def merge(records: list[LabelRecord], problems: Problems) -> dict[str, Merged]:
    """One entry per clip; different scores or splits for the same clip are conflicts."""
    merged: dict[str, Merged] = {}
    for r in records:
        if not r.clip_name.startswith(HASH_PREFIX):
            bad = check_clip_name(r.clip_name)
            if bad:
                problems.add("unknown clip name", f"{r.source}: {bad}")
                continue
        m = merged.setdefault(r.clip_name, Merged(r.clip_name))
        for attr in ("scores", "transcript", "split"):
            new, old = getattr(r, attr), getattr(m, attr)
            if new is not None and old is not None and new != old:
                problems.add(f"conflicting {attr}", f"{r.clip_name} ({r.source})")
            elif new is not None:
                setattr(m, attr, new)
        if r.scores is not None:
            m.source = r.source
    return merged


def _check_orphans(
    merged: dict[str, Merged], existing: dict[str, Label], problems: Problems
) -> None:
    """A transcript or split alone cannot create a label: its clip needs scores somewhere."""
    for clip, m in merged.items():
        if m.scores is None and clip not in existing:
            problems.add(
                "unknown clip name", f"{clip}: has no scores in this import or the database"
            )


def import_labels(
    db: Database, paths: Iterable[Path], split: str | None = None, dry_run: bool = False
) -> ImportReport:
    """Validate every file, then write all labels in one transaction, or nothing."""
    problems, report = Problems(), ImportReport()
    records = read_records(list(paths), problems, report, split)
    return import_records(db, records, problems, report, dry_run)


def import_records(
    db: Database,
    records: list[LabelRecord],
    problems: Problems,
    report: ImportReport,
    dry_run: bool = False,
) -> ImportReport:
    """Write records already read (with the problems found reading them), all or nothing."""
    with db.write() as session:
        write_records(session, records, problems, report)
        if dry_run:
            session.rollback()
    return report


def write_records(
    session: Session, records: list[LabelRecord], problems: Problems, report: ImportReport
) -> None:
    """Validate the records against the database and write them in the caller's
    transaction; raises LabelImportError, having written nothing, on any problem."""
    resolve_hashes(session, records)
    merged = merge(records, problems)
    # All labels at once: an IN list of thousands of names exceeds SQLite's variable limit.
    existing = {lb.clip_name: lb for lb in session.scalars(select(Label))}
    _check_orphans(merged, existing, problems)
    if problems:
        raise refused(problems)
    _apply(session, merged, existing, report)


def refused(problems: Problems) -> LabelImportError:
    """The error of an import refused for these problems."""
    return LabelImportError("label import refused; nothing was written:\n" + problems.report())


def _apply(
    session: Session, merged: dict[str, Merged], existing: dict[str, Label], report: ImportReport
) -> None:
    now = utcnow()
    for clip in sorted(merged):
        m = merged[clip]
        label = existing.get(clip)
        if label is None:
            label = Label(clip_name=clip, source=m.source, imported_at=now)
            session.add(label)
            report.added += 1
            report.touched.append(clip)
            _update(label, m, group_of(clip))
        elif _update(label, m, group_of(clip)):
            label.imported_at = now
            report.changed += 1
            report.touched.append(clip)
        else:
            report.unchanged += 1
        report.with_scores += m.scores is not None
        report.with_transcripts += m.transcript is not None
        key = label.split or "no split"
        report.by_split[key] = report.by_split.get(key, 0) + 1


def _update(label: Label, m: Merged, group: str | None) -> bool:
    """Copy what the import says onto the row; True if anything changed."""
    wanted: dict[str, object] = {"group_id": group}
    if m.scores is not None:
        wanted.update(m.scores, source=m.source)
    if m.transcript is not None:
        wanted["transcript"] = m.transcript
    if m.split is not None:
        wanted["split"] = m.split
    changed = False
    for attr, value in wanted.items():
        if getattr(label, attr) != value:
            setattr(label, attr, value)
            changed = True
    return changed


def label_for_video(session: Session, name: str, sha256: str) -> Label | None:
    """The label of a video: by its clip name, or by its content hash."""
    rows = session.scalars(
        select(Label).where(or_(Label.clip_name == name, Label.clip_name == HASH_PREFIX + sha256))
    ).all()
    return min(rows, key=lambda lb: lb.clip_name.startswith(HASH_PREFIX), default=None)


def official_transcript(db: Database, clip_name: str) -> str | None:
    """The transcript a label file gave for a clip name; None when absent or empty."""
    with db.read() as session:
        text = session.scalar(select(Label.transcript).where(Label.clip_name == clip_name))
    return text.strip() if text and text.strip() else None


def has_all_scores(label: Label) -> bool:
    """True when the label holds all six scores."""
    return all(getattr(label, key) is not None for key in TARGETS)
