"""Artifact files: one folder per video under the store, written atomically.

A stage's output is written to `<name>.<host>~<pid>.partial` and moved into place with
`os.replace`, so a crash leaves either the old file, the new file, or a `.partial` that
the reaper removes; never half a file under the real name. The writer's signature in the
name lets several hosts share one store: each removes only partials of processes it
knows are dead, never one that another host is writing now.

With a write log (`ArtifactStore(root, write_log=...)`), every completed write appends
one line (UTC time, `host~pid`, path relative to the store, or absolute for a file
outside it such as a report): an audit trail of which
process wrote what, which the crash tests read to prove no stage ran twice.

With `is_forgotten` (a check of the database's forget tombstones), a file of a video
(its artifact folder, or `<sha256>.*` in an `outside` folder) is checked after it is
moved into place: if the video was forgotten meanwhile, every file of it is deleted and
`VideoForgotten` raised. `lprd forget` records its tombstone before it deletes files, so
either forget deletes the new file or the writer sees the tombstone: none survives.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.processes import TAG_SEPARATOR, ProcessId

PARTIAL_SUFFIX = ".partial"
SHA256_HEX = 64


class VideoForgotten(Exception):  # noqa: N818 - reads as what happened
    """A file was written for a video that `lprd forget` erased meanwhile (now deleted)."""


def _is_sha256(text: str) -> bool:
    return len(text) == SHA256_HEX and all(c in "0123456789abcdef" for c in text)


def own_tag() -> str:
    """This process's signature on partial files: `host~pid`."""
    return ProcessId.here().tag


def partial_tag(partial: Path) -> str | None:
    """The `host~pid` a partial file was signed with; None for an unsigned one."""
    stem = partial.name[: -len(PARTIAL_SUFFIX)]
    tag = stem.rsplit(".", 1)[-1] if "." in stem else ""
    return tag if TAG_SEPARATOR in tag else None


class ArtifactStore:
    """Maps a video's sha256 to its artifact folder under `root`."""

    def __init__(
        self,
        root: Path,
        write_log: Path | None = None,
        outside: tuple[Path, ...] = (),
        is_forgotten: Callable[[str], bool] | None = None,
    ) -> None:
        self.root = Path(root)
        self.write_log = write_log
        # Folders outside the store that lprd also writes into atomically (the reports):
        # their leftover partials are removed with the store's, a forgotten video's
        # `<sha256>.*` files with its artifacts.
        self.outside = tuple(Path(folder) for folder in outside)
        self.is_forgotten = is_forgotten

    def video_dir(self, sha256: str) -> Path:
        """The folder holding every artifact of one video."""
        return self.root / "artifacts" / sha256[:2] / sha256

    def originals_dir(self) -> Path:
        """Where originals are moved when config says so."""
        return self.root / "originals"

    def path(self, sha256: str, filename: str) -> Path:
        """Absolute path of an artifact file of a video."""
        return self.video_dir(sha256) / filename

    def relative(self, path: Path) -> str:
        """Path relative to the store root, as recorded in the database."""
        return str(Path(path).resolve().relative_to(self.root.resolve()))

    def resolve_video_path(self, recorded: str) -> Path:
        """A video's recorded path: absolute as stored, or relative to the store root."""
        path = Path(recorded)
        return path if path.is_absolute() else self.root / path

    def resolve(self, relative: str) -> Path:
        """Absolute path of a path recorded relative to the store root."""
        return self.root / relative

    @contextlib.contextmanager
    def atomic_path(self, target: Path) -> Iterator[Path]:
        """Yield a `.partial` path to write; move it onto `target` only if the block succeeds."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tag = own_tag()
        partial = target.with_name(f"{target.name}.{tag}{PARTIAL_SUFFIX}")
        try:
            yield partial
            os.replace(partial, target)
            self._log_write(target, tag)
            self._unless_forgotten(target)
        finally:
            partial.unlink(missing_ok=True)

    def owner_of(self, target: Path) -> str | None:
        """The sha256 of the video a file belongs to (artifact folder, or `<sha256>.*` in
        an `outside` folder); None for any other file."""
        folder = Path(target).parent.resolve()
        if folder.parent.parent == (self.root / "artifacts").resolve() and _is_sha256(folder.name):
            return folder.name
        stem = Path(target).name.split(".", 1)[0]
        outside = {path.resolve() for path in self.outside}
        return stem if folder in outside and _is_sha256(stem) else None

    def _unless_forgotten(self, target: Path) -> None:
        """Just published: delete every file of the video if it was forgotten meanwhile."""
        owner = self.owner_of(target)
        if owner is None or self.is_forgotten is None or not self.is_forgotten(owner):
            return
        self.delete_video(owner)
        raise VideoForgotten(
            f"video {owner[:12]} was forgotten while {target.name} was written; "
            "its files were deleted"
        )

    def _log_write(self, target: Path, tag: str) -> None:
        if self.write_log is None:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        line = f"{now}\t{tag}\t{self.logged_path(target)}\n".encode()
        # One O_APPEND write per line: lines of concurrent writers never interleave.
        fd = os.open(self.write_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def logged_path(self, target: Path) -> str:
        """How the write log names a file: relative to the store root, or absolute when
        it lies outside the store (a report under HOME/reports, an `-o` file)."""
        resolved = Path(target).resolve()
        root = self.root.resolve()
        return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)

    def write_json(self, target: Path, data: Any) -> None:
        """Write JSON atomically; NaN and infinities become null (they are not JSON)."""
        with self.atomic_path(target) as partial:
            with open(partial, "w", encoding="utf-8") as fh:
                json.dump(_json_safe(data), fh, ensure_ascii=False, indent=1, allow_nan=False)
                fh.flush()
                os.fsync(fh.fileno())

    def read_json(self, target: Path) -> Any:
        """Read a JSON artifact."""
        with open(target, encoding="utf-8") as fh:
            return json.load(fh)

    def remove_partials(self, is_dead: Callable[[str | None], bool] | None = None) -> int:
        """Delete leftover `.partial` files under the store and the `outside` folders;
        returns how many.

        With `is_dead`, only those whose writer (`host~pid`, None if unsigned) it declares
        dead: on a shared store, other hosts' partials may be writes in progress.
        """
        count = 0
        for folder in (self.root, *self.outside):
            if not folder.exists():
                continue
            for partial in folder.rglob(f"*{PARTIAL_SUFFIX}"):
                if is_dead is not None and not is_dead(partial_tag(partial)):
                    continue
                partial.unlink(missing_ok=True)
                count += 1
        return count

    def delete_video(self, sha256: str) -> None:
        """Remove every file of a video: its artifact folder and its `<sha256>.*` files
        (the report) in the `outside` folders."""
        shutil.rmtree(self.video_dir(sha256), ignore_errors=True)
        for folder in self.outside:
            for path in folder.glob(f"{sha256}.*"):
                path.unlink(missing_ok=True)


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats and numpy scalars/arrays by JSON-representable values."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return _json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value
