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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from daemon.config import VIDEO_EXTENSIONS
from daemon.labels.files import Problems, check_clip_name, rows_to_records
from daemon.labels.store import ImportReport, LabelImportError, import_records
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


def import_sidecar(db: Database, path: Path) -> SidecarResult:
    """Import one sidecar's labels, all or nothing."""
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
    records = rows_to_records([{**data, "clip_name": clip}], path, problems) or []
    if subject is not None and not records and not problems:
        message = f"subject {subject} for {clip} (used when diarize runs)"
        return SidecarResult(FileState.SIDECAR, message, subject_clip=clip)
    if not records and not problems:
        problems.add("missing trait", f"{path.name}: no scores or transcript")
    try:
        import_records(db, records, problems, report)
    except LabelImportError as exc:
        return SidecarResult(REJECTED, str(exc))
    state = "new" if report.added else ("updated" if report.changed else "unchanged")
    message = f"labels for {clip} imported ({state})"
    if subject is not None:
        message += f"; subject {subject} (used when diarize runs)"
    return SidecarResult(
        FileState.SIDECAR, message, tuple(report.touched), clip if subject else None
    )


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
