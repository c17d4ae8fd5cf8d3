"""Label sidecars: `NAME.labels.json` dropped in the inbox beside a video.

The labels attach by clip name, which is the video's file name: `talk.mp4.labels.json`
names `talk.mp4`; `talk.labels.json` names the one video beside it whose stem is `talk`;
a `"clip_name"` key in the JSON overrides both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from daemon.config import VIDEO_EXTENSIONS
from daemon.labels.files import Problems, check_clip_name, rows_to_records
from daemon.labels.store import ImportReport, LabelImportError, import_records
from storage.db import Database
from storage.models import SIDECAR_SUFFIX
from storage.states import FileState

REJECTED = FileState.REJECTED


def clip_name_for(path: Path, data: object) -> tuple[str | None, str]:
    """(clip name, '') or (None, why it cannot be told)."""
    if isinstance(data, dict) and isinstance(data.get("clip_name"), str):
        return data["clip_name"], ""
    name = path.name[: -len(SIDECAR_SUFFIX)]
    if check_clip_name(name) is None:
        return name, ""
    beside = sorted(
        p.name
        for p in path.parent.glob(f"{name}.*")
        if p.suffix.lstrip(".").lower() in VIDEO_EXTENSIONS
    )
    if len(beside) == 1:
        return beside[0], ""
    found = f"videos {beside}" if beside else "no video"
    return None, (
        f"cannot tell which video these labels belong to ({found} named '{name}.*' beside it): "
        f"name the file after the video, e.g. '{name}.mp4{SIDECAR_SUFFIX}', or add a \"clip_name\" key"
    )


@dataclass(frozen=True)
class SidecarResult:
    """What importing a sidecar did: the inbox file state it ends in (sidecar when its
    labels were imported, else rejected), the message for the inbox record, and the clip
    names whose label was added or changed."""

    state: FileState
    message: str
    touched: tuple[str, ...] = ()


def import_sidecar(db: Database, path: Path) -> SidecarResult:
    """Import one sidecar's labels, all or nothing."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return SidecarResult(REJECTED, f"not readable JSON ({exc}); fix the file and drop it again")
    if not isinstance(data, dict):
        return SidecarResult(
            REJECTED, "expected one JSON object with the six scores; fix and drop it again"
        )
    clip, why = clip_name_for(path, data)
    if clip is None:
        return SidecarResult(REJECTED, why)
    problems, report = Problems(), ImportReport(files=[path.name])
    records = rows_to_records([{**data, "clip_name": clip}], path, problems) or []
    if not records and not problems:
        problems.add("missing trait", f"{path.name}: no scores or transcript")
    try:
        import_records(db, records, problems, report)
    except LabelImportError as exc:
        return SidecarResult(REJECTED, str(exc))
    state = "new" if report.added else ("updated" if report.changed else "unchanged")
    message = f"labels for {clip} imported ({state})"
    return SidecarResult(FileState.SIDECAR, message, tuple(report.touched))
