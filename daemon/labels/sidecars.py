"""Label sidecars: `NAME.labels.json` dropped in the inbox beside a video.

The labels attach by clip name, which is the video's file name: `talk.mp4.labels.json`
names `talk.mp4`; `talk.labels.json` names the one video beside it whose stem is `talk`;
a `"clip_name"` key in the JSON may only pick among several `talk.*` videos beside it.
A sidecar labels only its own video: one whose "clip_name" names another clip is
refused, never allowed to overwrite that clip's labels.

A sidecar may also name the video's subject among its diarized speakers,
`{"subject": "SPEAKER_01"}`, with or without scores. The diarize stage reads it from the
sidecar beside the file the video arrived as (see `subject_for`), so it applies to that
video only; `lprd retry VIDEO --subject` overrides it.

A sidecar may also rate its video on a declared target set (`[targets.NAME]`):
`{"set": "hiring", "hireability": 5, "warmth": 70}`, or several sets at once with
`{"sets": {"hiring": {"hireability": 5}, "other": {...}}}`; First Impressions' scores may
sit beside them at the top level as before. Those ratings go to `study_labels` under the
video's clip name, validated against the declared scales (daemon/labels/study.py), in
the same all-or-nothing transaction as the First Impressions scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from daemon.config import VIDEO_EXTENSIONS, Config
from daemon.config.targets import BUILTIN_SET, FI_COLUMNS
from daemon.labels.files import TEXT_KEYS, Problems, check_clip_name, rows_to_records
from daemon.labels.store import ImportReport, LabelImportError, refused, write_records
from daemon.labels.study import (
    GROUP_KEYS,
    NON_TARGET_KEYS,
    StudyImportReport,
    StudyRecord,
    blank,
    describe_unknown,
    row_to_record,
    write_study_records,
)
from daemon.targets import TargetSet, target_sets
from storage.db import Database
from storage.models import SIDECAR_SUFFIX, InboxFile
from storage.states import FileState

REJECTED = FileState.REJECTED
MAX_SIDECAR_BYTES = 1024 * 1024


def clip_name_for(path: Path, data: object) -> tuple[str | None, str]:
    """(clip name, '') or (None, why it cannot be told or is refused).

    A sidecar labels only its own video: the one it is named after. A `"clip_name"` key
    may pick among the videos beside it named `STEM.*` when the file name alone cannot
    tell; naming any other clip is refused, so that a sidecar never overwrites another
    video's labels (a dataset's, or another sidecar's)."""
    name = path.name[: -len(SIDECAR_SUFFIX)]
    named = data.get("clip_name") if isinstance(data, dict) else None
    if named is not None and not isinstance(named, str):
        return None, f'"clip_name" in {path.name} must be a file name, not {named!r}'
    if check_clip_name(name) is None:
        return _own_clip(path, name, named)
    beside = sorted(
        p.name
        for p in path.parent.glob(f"{name}.*")
        if p.suffix.lstrip(".").lower() in VIDEO_EXTENSIONS
    )
    if named is not None and named in beside:
        return named, ""
    if named is None and len(beside) == 1:
        return beside[0], ""
    if named is not None:
        return _own_clip(
            path, beside[0] if len(beside) == 1 else f"a video named '{name}.*'", named
        )
    found = f"videos {beside}" if beside else "no video"
    return None, (
        f"cannot tell which video these labels belong to ({found} named '{name}.*' beside it): "
        f"name the file after the video, e.g. '{name}.mp4{SIDECAR_SUFFIX}'"
        + (f', or set "clip_name" to one of {beside}' if beside else "")
    )


def _own_clip(path: Path, own: str, named: str | None) -> tuple[str | None, str]:
    """(own, '') unless the sidecar's "clip_name" names another clip."""
    if named is None or named == own:
        return own, ""
    return None, (
        f'{path.name} names the clip "{named}" but a sidecar labels only its own video '
        f'({own}): to label {named}, name the file "{named}{SIDECAR_SUFFIX}" and put it '
        f"beside that video, or import the labels with `lprd labels import`"
    )


@dataclass(frozen=True)
class SidecarResult:
    """What importing a sidecar did: the inbox file state it ends in (sidecar when its
    labels were imported, else rejected), the message for the inbox record, and the clip
    names whose label was added or changed."""

    state: FileState
    message: str
    touched: tuple[str, ...] = ()
    subject_clip: str | None = None  # the clip whose subject the sidecar names


SUBJECT_KEY = "subject"


def sidecar_subject(data: dict) -> tuple[str | None, str]:
    """(the speaker a sidecar names as the subject, or None; '' or why the value is wrong)."""
    value = data.get(SUBJECT_KEY)
    if value is None:
        return None, ""
    if not isinstance(value, str) or not value.strip():
        return None, (
            f'"{SUBJECT_KEY}" must be a speaker label such as "SPEAKER_01", not {value!r}; '
            "fix the file and drop it again"
        )
    return value.strip(), ""


def too_deep(path: Path) -> str:
    """Why a JSON file whose lists or objects nest past Python's recursion limit is refused."""
    return (
        f"{path.name} is nested too deeply to read (lists or objects inside one another "
        "thousands of levels deep); a sidecar is one flat JSON object with the scores: "
        "fix the file and drop it again"
    )


def import_sidecar(db: Database, path: Path, config: Config | None = None) -> SidecarResult:
    """Import one sidecar's labels, all or nothing; `config` declares the target sets a
    sidecar may rate (without it, only First Impressions')."""
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            return SidecarResult(
                REJECTED,
                f"{path.name} has {path.stat().st_size:,} bytes, more than the "
                f"{MAX_SIDECAR_BYTES:,} a sidecar may have (six scores and a transcript)",
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        return SidecarResult(REJECTED, too_deep(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return SidecarResult(REJECTED, f"not readable JSON ({exc}); fix the file and drop it again")
    if not isinstance(data, dict):
        return SidecarResult(
            REJECTED, "expected one JSON object with the six scores; fix and drop it again"
        )
    clip, why = clip_name_for(path, data)
    subject, bad = sidecar_subject(data)
    if clip is None or bad:
        return SidecarResult(REJECTED, why or bad)
    problems, report = Problems(), ImportReport(files=[path.name])
    study, claimed = _study_records(data, path, clip, target_sets(config), problems)
    rated = any(str(k).strip().lower() in SET_KEYS for k in data)
    data = {k: v for k, v in data.items() if str(k).strip().lower() not in claimed}
    keys = {str(k).strip().lower() for k in data}
    first_impressions = not rated or bool(keys & set(FI_COLUMNS))
    records = []
    if first_impressions:
        records = rows_to_records([{**data, "clip_name": clip}], path, problems) or []
    if subject is not None and not records and not rated and not problems:
        message = f"subject {subject} for {clip} (used when diarize runs)"
        return SidecarResult(FileState.SIDECAR, message, subject_clip=clip)
    if not records and not rated and not problems:
        problems.add("missing trait", f"{path.name}: no scores or transcript")
    study_reports = [StudyImportReport(s.name, files=[path.name]) for s in study]
    try:
        if problems:
            raise refused(problems)
        with db.write() as session:
            if records:
                write_records(session, records, problems, report)
            for (target_set, found), study_report in zip(study.items(), study_reports, strict=True):
                write_study_records(session, target_set, found, problems, study_report)
    except LabelImportError as exc:
        return SidecarResult(REJECTED, str(exc))
    parts = [f"labels for {clip} imported ({_state(report)})"] if records else []
    parts += [
        f"{r.target_set} labels for {clip} imported ({_state(r)}: {', '.join(r.by_target)})"
        for r in study_reports
    ]
    if not first_impressions and keys & set(TEXT_KEYS):
        parts.append(
            "its transcript is not stored (a transcript is kept with First Impressions scores)"
        )
    message = "; ".join(parts)
    if subject is not None:
        message += f"; subject {subject} (used when diarize runs)"
    return SidecarResult(
        FileState.SIDECAR, message, tuple(report.touched), clip if subject else None
    )


def _state(report: ImportReport | StudyImportReport) -> str:
    return "new" if report.added else ("updated" if report.changed else "unchanged")


SET_KEYS = ("set", "sets")


def _study_records(
    data: dict, path: Path, clip: str, sets: dict[str, TargetSet], problems: Problems
) -> tuple[dict[TargetSet, list[StudyRecord]], set[str]]:
    """(the ratings a sidecar gives on declared sets, by set; the top-level keys those
    take, which are not First Impressions scores even when named like them)."""
    lower = {str(k).strip().lower(): v for k, v in data.items()}
    top = {*FI_COLUMNS, *NON_TARGET_KEYS, SUBJECT_KEY, *SET_KEYS}
    shared = {k: lower[k] for k in ("split", *GROUP_KEYS) if k in lower}
    given: dict[TargetSet, tuple[str, dict, list[str]]] = {}  # where, row, unknown keys
    if all(k in lower for k in SET_KEYS):
        problems.add("malformed sidecar", f'{path.name}: has both "set" and "sets"; use one')
    elif "set" in lower:
        target_set = _declared(lower["set"], sets, path, problems)
        if target_set is not None:
            row = {k: v for k, v in lower.items() if k in target_set.names}
            stray = sorted(k for k in lower if k not in row and k not in top)
            given[target_set] = (path.name, row, stray)
    elif "sets" in lower:
        found = lower["sets"]
        if not isinstance(found, dict) or not found:
            problems.add(
                "malformed sidecar",
                f'{path.name}: "sets" must be an object such as {{"hiring": {{"warmth": 70}}}}',
            )
            found = {}
        stray = sorted(k for k in lower if k not in top)
        if stray:
            problems.add(
                "unknown key",
                f'{path.name}: {", ".join(map(repr, stray))} (a set\'s ratings go inside "sets")',
            )
        for name, inner in found.items():
            where = f'{path.name} "sets" "{name}"'
            target_set = _declared(name, sets, path, problems)
            if target_set is None:
                continue
            if not isinstance(inner, dict):
                problems.add("malformed sidecar", f"{where}: not an object of ratings")
                continue
            row = {str(k).strip().lower(): v for k, v in inner.items()}
            allowed = {*target_set.names, "split", *GROUP_KEYS}
            given[target_set] = (where, row, sorted(k for k in row if k not in allowed))
    records: dict[TargetSet, list[StudyRecord]] = {}
    claimed: set[str] = set()
    for target_set, (where, row, unknown) in given.items():
        if "set" in lower:
            claimed |= set(row)
        if unknown:
            problems.add("unknown key", f"{where}: {describe_unknown(unknown, target_set)}")
            continue
        record = row_to_record(
            {**shared, **row, "clip_name": clip}, target_set, where, path.name, problems
        )
        if record is not None:
            records[target_set] = [record]
        elif all(blank(row.get(t)) for t in target_set.names):
            problems.add("no rating", f"{where}: none of {', '.join(target_set.names)}")
    return records, claimed


def _declared(
    name: object, sets: dict[str, TargetSet], path: Path, problems: Problems
) -> TargetSet | None:
    """The declared (non-built-in) set a sidecar names, or None with the problem noted."""
    if name == BUILTIN_SET:
        problems.add(
            "malformed sidecar",
            f"{path.name}: First Impressions' scores go at the top level of a sidecar, "
            f'without "set"',
        )
        return None
    if not isinstance(name, str) or name not in sets:
        declared = ", ".join(n for n in sets if n != BUILTIN_SET) or "none"
        table = f"[targets.{name}]" if isinstance(name, str) else "[targets.NAME]"
        problems.add(
            "undeclared target set",
            f"{path.name} names the target set {name!r}, which is not declared "
            f"(declared sets: {declared}; declare it as {table} in the config file)",
        )
        return None
    return sets[name]


def sidecar_paths(video_path: Path) -> list[Path]:
    """The sidecars that may belong to a video file: `NAME.labels.json`, `STEM.labels.json`."""
    names = [video_path.name + SIDECAR_SUFFIX, video_path.stem + SIDECAR_SUFFIX]
    return [video_path.parent / n for n in dict.fromkeys(names)]


def subject_for(db: Database, video_id: int, video_path: Path) -> tuple[str, str] | None:
    """(speaker, sidecar file name) when a sidecar of this video names its subject.

    The video's files are the one it was registered from and every inbox file that
    arrived with its content; a sidecar counts only when it names that file (by its own
    name or its "clip_name"), so it never applies to another video. The first found wins.
    Raises ValueError for a "subject" that is not a label.
    """
    with db.read() as session:
        arrived = session.scalars(select(InboxFile.path).where(InboxFile.video_id == video_id))
        files = [video_path, *(Path(p) for p in arrived)]
    for file in dict.fromkeys(files):
        for path in sidecar_paths(file):
            found = _subject_in(path, file.name)
            if found is not None:
                return found, path.name
    return None


def _subject_in(path: Path, video_name: str) -> str | None:
    """The subject a sidecar names, when it is readable and belongs to `video_name`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or clip_name_for(path, data)[0] != video_name:
        return None
    subject, bad = sidecar_subject(data)
    if bad:
        raise ValueError(f"{path.name}: {bad}")
    return subject
