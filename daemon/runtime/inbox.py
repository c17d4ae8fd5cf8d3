"""The inbox: every file seen gets an `inbox_files` row and ends in a visible state.

Filesystem events and rescans only *observe* paths. A path is processed once its size
and mtime have stayed the same for `inbox.stable_seconds` (so files still being copied
wait), then it is registered as a video (by content hash: the same content under two
names is one video), recorded as a duplicate, or rejected with a reason a person can
act on. A file's content is never modified: with `inbox.originals = "leave"` (the
default) nothing in the inbox changes; with "move" a registered video's original is moved
into the store (`store/originals/`), and the video row points there.

A shared inbox (`inbox.shared`: one folder several hosts watch, on PostgreSQL) is handled
by one host at a time: whoever holds its advisory lock observes, settles and rescans it;
the others skip their turn (events they saw wait for the next one) and work the queue.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from daemon.config import Config
from daemon.logtext import one_line
from daemon.pipeline import Pipeline
from daemon.runtime.forgetting import resume as resume_forgets
from daemon.runtime.forgetting import video_files
from storage.artifacts import ArtifactStore
from storage.db import Database, utcnow
from storage.locks import try_lock
from storage.models import (
    FILE_DUPLICATE,
    FILE_REGISTERED,
    FILE_REJECTED,
    FILE_WAITING,
    SIDECAR_SUFFIX,
    InboxFile,
    Video,
)
from storage.videos import forget_video, forgotten, register_video, sha256_of, unforget

log = logging.getLogger("lprd.inbox")


@dataclass(frozen=True)
class FileVerdict:
    """What processing a stable file decided."""

    state: str
    reason: str | None = None
    video_id: int | None = None


def _stat(path: Path) -> os.stat_result:
    """The entry's own size and mtime: a symlink's, not its target's."""
    return path.lstat()


def db_key(path: Path) -> str:
    """How a path is stored: itself, or with undecodable bytes escaped (`\\xe9`)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _file_row(session: Session, path: Path) -> InboxFile | None:
    return session.execute(
        select(InboxFile).where(InboxFile.path == db_key(path))
    ).scalar_one_or_none()


def unreadable_reason(exc: Exception) -> str:
    """What a person can do about a file that could not be read."""
    if isinstance(exc, RecursionError):  # a RuntimeError, but no symlink loop
        return (
            "the file is nested too deeply to read (structures inside one another thousands "
            "of levels deep): fix or replace it, then touch it or `lprd add` it"
        )
    # Path.resolve() raises RuntimeError("Symlink loop from ...") before Python 3.13.
    if getattr(exc, "errno", None) == errno.ELOOP or (
        isinstance(exc, RuntimeError) and "symlink loop" in str(exc).lower()
    ):
        return "symlink loop: the link points, directly or through other links, back to itself"
    if isinstance(exc, PermissionError):
        return (
            "the file cannot be read (permission denied): make it readable by the user lprd "
            "runs as, then touch it or `lprd add` it"
        )
    if isinstance(exc, OSError):
        return f"the file cannot be read ({exc.strerror or exc}); lprd looks again when it changes"
    return f"the file cannot be processed ({type(exc).__name__}: {exc})"


def entry_problem(path: Path, st: os.stat_result) -> str | None:
    """Why an inbox entry can never be a video, found without opening it; None if it may be."""
    if os.fsencode(path.name).decode("utf-8", "replace") != path.name:
        return (
            "the file name is not valid UTF-8 (shown here with \\x escapes): rename it, "
            "e.g. to plain ASCII"
        )
    if stat.S_ISDIR(st.st_mode):
        return (
            "a folder named like a video, not a video file; files inside it are handled one by one"
        )
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket or device"
        return f"not a regular file ({kind}); lprd reads only regular video files"
    return None


def move_destination(store: ArtifactStore, sha256: str, name: str) -> Path:
    """Where `inbox.originals = "move"` puts a video's original: a function of the content
    hash and the file name, which the registration records before anything moves, so
    that a crash between the move and the path update is recoverable (`moved_original`)."""
    return store.originals_dir() / f"{sha256}{Path(name).suffix.lower()}"


def moved_original(store: ArtifactStore, video: Video) -> Path | None:
    """The store's copy of a video's original when the inbox moved it there (its size is
    the registered one; the caller checks the content), else None."""
    target = move_destination(store, video.sha256, video.name)
    try:
        st = target.stat()
    except OSError:
        return None
    return target if stat.S_ISREG(st.st_mode) and st.st_size == video.size_bytes else None


def _move_file(store: ArtifactStore, source: Path, target: Path) -> None:
    """Move a file into the store; across file systems through a `.partial` copy, so
    that `target` never holds part of it."""
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with store.atomic_path(target) as partial:
            shutil.copy2(source, partial)
        os.unlink(source)


def _starts_with(path: Path, size: int, sha256: str) -> bool:
    """Whether the first `size` bytes of the file have this sha256."""
    digest, left = hashlib.sha256(), size
    with open(path, "rb") as fh:
        while left > 0 and (chunk := fh.read(min(left, 1 << 20))):
            digest.update(chunk)
            left -= len(chunk)
    return left == 0 and digest.hexdigest() == sha256


def is_ignored(path: Path) -> bool:
    """Hidden files (editors' and copy tools' temporaries) and partial downloads."""
    return path.name.startswith(".") or path.name.endswith((".partial", ".part", ".crdownload"))


class Inbox:
    """Observes inbox paths and turns stable files into videos or visible rejections."""

    def __init__(self, config: Config, db: Database, store: ArtifactStore, pipeline: Pipeline):
        self.config = config
        self.db = db
        self.store = store
        self.pipeline = pipeline
        self.root = config.inbox_dir
        self._pending: set[Path] = set()
        self._lock = threading.Lock()

    # --- observation -------------------------------------------------------------------

    def notify(self, path: Path) -> None:
        """Thread-safe hint from the watcher that a path changed."""
        with self._lock:
            self._pending.add(Path(path))

    @contextlib.contextmanager
    def _turn(self) -> Iterator[bool]:
        """True while this host may handle the inbox: always, unless it is shared and
        another host handles it now."""
        if not self.config.inbox.shared:
            yield True
            return
        with try_lock(self.db, f"lprd-inbox:{self.root}") as mine:
            yield mine

    def _under_root(self):
        """SQL condition: an inbox_files path inside this inbox (hosts may have their own)."""
        return InboxFile.path.startswith(db_key(self.root).rstrip(os.sep) + os.sep, autoescape=True)

    def drain(self) -> int:
        """Observe the paths the watcher reported since the last call.

        If the database fails half-way, or another host handles the shared inbox now, the
        paths not yet observed are kept for next time.
        """
        with self._turn() as mine:
            return self._drain() if mine else 0

    def _drain(self) -> int:
        with self._lock:
            paths, self._pending = list(self._pending), set()
        for done, path in enumerate(paths):
            try:
                self.observe(path)
            except Exception:
                with self._lock:
                    self._pending.update(paths[done:])
                raise
        return len(paths)

    def scan(self) -> int:
        """Observe every file under the inbox (start-up and periodic reconciliation);
        a shared inbox's scan is skipped while another host handles it."""
        with self._turn() as mine:
            if not mine:
                log.debug(
                    "inbox %s: another host is handling it; rescan skipped", one_line(self.root)
                )
                return 0
            return self._scan()

    def _scan(self) -> int:
        count = 0
        for dirpath, dirs, files in os.walk(self.root):
            for name in files + [d for d in dirs if self._accepted_name(d)]:
                self.observe(Path(dirpath) / name)
                count += 1
        self._forget_vanished_waiting()
        return count

    def observe(self, path: Path) -> None:
        """Record a path's size and mtime; a change resets its stability clock."""
        path = Path(path)
        if is_ignored(path) or not path.is_relative_to(self.root):
            return
        try:
            st = _stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISDIR(st.st_mode) and not self._accepted_name(path.name):
            return  # a sub-folder: its files are observed one by one
        key = db_key(path)
        with self.db.read() as session:
            known = session.execute(
                select(InboxFile.size_bytes, InboxFile.mtime).where(InboxFile.path == key)
            ).first()
        if known is not None and tuple(known) == (st.st_size, st.st_mtime):
            return  # nothing changed: a rescan costs one read per file, no write
        problem = entry_problem(path, st)
        now = utcnow()
        with self.db.write() as session:
            row = _file_row(session, path)
            if row is None:
                row = InboxFile(path=key, name=Path(key).name, first_seen_at=now)
                session.add(row)
            elif (row.size_bytes, row.mtime) == (st.st_size, st.st_mtime):
                return
            row.size_bytes, row.mtime, row.updated_at, row.video_id = (
                st.st_size,
                st.st_mtime,
                now,
                None,
            )
            if problem is not None:
                row.state, row.reason = FILE_REJECTED, problem
            else:
                row.state = FILE_WAITING
                row.reason = (
                    "the file is still changing"
                    if known is not None
                    else "waiting for the file to stop changing"
                )
        if problem is not None:
            log.warning("%s: rejected (%s)", one_line(Path(key).name), one_line(problem))
        elif self.config.inbox.stable_seconds == 0:
            self._settle()

    def _accepted_name(self, name: str) -> bool:
        ext = Path(name).suffix.lower().lstrip(".")
        return ext in {e.lower() for e in self.config.inbox.extensions}

    def _forget_vanished_waiting(self) -> None:
        """Drop the rows of waiting files that are gone, except those lprd moved into the
        store itself and crashed before recording it: their move is recorded now."""
        with self.db.write() as session:
            rows = session.execute(
                select(InboxFile.id, InboxFile.path)
                .where(InboxFile.state == FILE_WAITING)
                .where(self._under_root())
            ).all()
            gone = [rid for rid, p in rows if not os.path.lexists(p)]
            moved = [rid for rid in gone if self._finish_move(session, session.get(InboxFile, rid))]
            gone = [rid for rid in gone if rid not in moved]
            if gone:
                session.execute(delete(InboxFile).where(InboxFile.id.in_(gone)))

    def _finish_move(self, session: Session, row: InboxFile) -> bool:
        """The file of a waiting row is gone: if it is a video's registered original that
        the inbox moved into the store (a crash came between the move and recording it),
        record the move and the registration; True when it did."""
        recorded = {row.path, str(Path(row.path).resolve())}
        same_file = and_(
            Video.name == row.name, Video.size_bytes == row.size_bytes, Video.mtime == row.mtime
        )  # a worker may have recorded the new path already
        for video in session.scalars(select(Video).where(or_(Video.path.in_(recorded), same_file))):
            target = moved_original(self.store, video)
            if target is not None and video.path in (*recorded, str(target)):
                break
        else:
            return False
        video.path = str(target)
        row.state, row.video_id = FILE_REGISTERED, video.id
        row.reason = f"video {video.id}, sha256 {video.sha256[:12]}; moved into the store"
        log.info("%s: its move into the store is recorded now", one_line(row.name))
        return True

    # --- processing --------------------------------------------------------------------

    def settle(self) -> int:
        """Process every waiting file whose size and mtime have been stable long enough."""
        with self._turn() as mine:
            return self._settle() if mine else 0

    def _settle(self) -> int:
        cutoff = utcnow() - timedelta(seconds=self.config.inbox.stable_seconds)
        with self.db.read() as session:
            rows = session.execute(
                select(InboxFile.path, InboxFile.size_bytes, InboxFile.mtime)
                .where(InboxFile.state == FILE_WAITING)
                .where(InboxFile.updated_at <= cutoff)
                .where(self._under_root())
            ).all()
        processed = 0
        for path_str, size, mtime in rows:
            path = Path(path_str)
            try:
                st = _stat(path)
            except FileNotFoundError:
                continue
            if (st.st_size, st.st_mtime) != (size, mtime):
                self.observe(path)  # changed since: restart its clock
                continue
            self._record(path, self._safe_verdict(path), size, mtime)
            processed += 1
        return processed

    def register_now(self, path: Path) -> FileVerdict:
        """Process one file at once, inside the inbox or not (`lprd add`): no stability wait."""
        path = Path(path)
        st = path.stat()
        if path.is_symlink() and not path.is_relative_to(self.root):
            path = path.resolve()  # named explicitly by the user: follow it
        problem = entry_problem(path, st)
        verdict = (
            FileVerdict(FILE_REJECTED, problem)
            if problem
            else self._safe_verdict(path, added_by_user=True)
        )
        now = utcnow()
        with self.db.write() as session:
            row = _file_row(session, path)
            if row is None:
                key = db_key(path)
                row = InboxFile(
                    path=key, name=Path(key).name, first_seen_at=now, state=verdict.state
                )
                session.add(row)
            row.state, row.reason, row.video_id = verdict.state, verdict.reason, verdict.video_id
            row.size_bytes, row.mtime, row.updated_at = st.st_size, st.st_mtime, now
        return verdict

    def _record(
        self, path: Path, verdict: FileVerdict, size: int | None, mtime: float | None
    ) -> None:
        with self.db.write() as session:
            row = _file_row(session, path)
            if row is None or (row.size_bytes, row.mtime) != (size, mtime):
                return  # changed or forgotten meanwhile; the next observation handles it
            row.state, row.reason, row.video_id = verdict.state, verdict.reason, verdict.video_id
            row.updated_at = utcnow()
        level = logging.WARNING if verdict.state == FILE_REJECTED else logging.INFO
        log.log(
            level,
            "%s: %s%s",
            one_line(path.name),
            verdict.state,
            f" ({one_line(verdict.reason)})" if verdict.reason else "",
        )

    def _safe_verdict(self, path: Path, added_by_user: bool = False) -> FileVerdict:
        """The verdict on a file; an error reading it is the file's rejection, not ours.

        Database errors are not caught: the caller waits those out.
        """
        try:
            return self._verdict(path, added_by_user)
        except (OSError, RuntimeError, ValueError) as exc:
            return FileVerdict(FILE_REJECTED, unreadable_reason(exc))

    def _verdict(self, path: Path, added_by_user: bool = False) -> FileVerdict:
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(self.root.resolve()):
                return FileVerdict(
                    FILE_REJECTED,
                    (
                        f"symlink points outside the inbox (to {target}); lprd only reads files inside "
                        "the inbox: copy the file in instead"
                    ),
                )
            if not target.is_file():
                return FileVerdict(FILE_REJECTED, f"symlink target {target} is not a file")
        if not added_by_user and not self.config.inbox.allow_hard_links:
            outside = self._links_outside(path)
            if outside:
                return FileVerdict(FILE_REJECTED, outside)
        if path.name.endswith(SIDECAR_SUFFIX):
            return self._sidecar(path)
        ext = path.suffix.lower().lstrip(".")
        accepted = [e.lower() for e in self.config.inbox.extensions]
        if ext not in accepted:
            shown = f"'.{ext}'" if ext else "no extension"
            return FileVerdict(
                FILE_REJECTED,
                (f"unsupported file type ({shown}); accepted containers: {', '.join(accepted)}"),
            )
        if path.stat().st_size == 0:
            return FileVerdict(FILE_REJECTED, "empty file (0 bytes): copy the video again")
        return self._register(path, added_by_user)

    def _links_outside(self, path: Path) -> str | None:
        """Why a file hard-linked from outside the inbox is refused; None when it is not.

        A hard link is another name of the same file: one made in the inbox to a file
        elsewhere brings that file in as a symlink pointing outside would. The other
        names cannot be listed, only counted, so the file passes only when every one of
        its `st_nlink` names is found inside the inbox."""
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_nlink <= 1:
            return None
        inside = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                with contextlib.suppress(OSError):
                    other = os.lstat(os.path.join(dirpath, name))
                    inside += (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)
            if inside >= st.st_nlink:
                return None
        return (
            f"the file has {st.st_nlink} hard links and {st.st_nlink - inside} of them lie "
            "outside the inbox (a hard link is another name of the same file, like a symlink "
            "pointing outside, which lprd refuses): copy the file in instead (cp, not ln), "
            "`lprd add` it to analyse it anyway, or set inbox.allow_hard_links = true"
        )

    def _sidecar(self, path: Path) -> FileVerdict:
        from daemon.labels.service import import_sidecar_labels

        result = import_sidecar_labels(self.db, self.pipeline.plans, path, self.config)
        return FileVerdict(result.state, result.message)

    def _register(self, path: Path, added_by_user: bool = False) -> FileVerdict:
        st = path.stat()
        sha = sha256_of(path)
        if added_by_user:  # analysed again: first finish an interrupted forget of it
            resume_forgets(self.db, self.store, sha)
        with self.db.write() as session:
            gone = forgotten(session, sha)
            if gone is not None and not added_by_user:
                return FileVerdict(
                    FILE_REJECTED,
                    (
                        f"this content was forgotten on {gone.forgotten_at:%Y-%m-%d %H:%M} UTC "
                        f"(`lprd forget`, as '{gone.name}'); `lprd add` it to analyse it again"
                    ),
                )
            unforget(session, sha)
            reg = register_video(
                session,
                sha256=sha,
                name=path.name,
                path=path.resolve(),
                size_bytes=st.st_size,
                mtime=st.st_mtime,
                plans=self.pipeline.plans.values(),
            )
        replaced = self._replace_incomplete_copies(path, st, reg.video_id)
        own = not added_by_user and self._own_registration(reg.video_id, path)
        if not reg.created and not own:
            return FileVerdict(
                FILE_DUPLICATE,
                (
                    f"same content as video {reg.video_id} ('{reg.existing_name}', sha256 {sha[:12]}); "
                    "it is processed once"
                )
                + replaced,
                reg.video_id,
            )
        verdict = FileVerdict(
            FILE_REGISTERED, f"video {reg.video_id}, sha256 {sha[:12]}{replaced}", reg.video_id
        )
        if self.config.inbox.originals == "move":
            self._move_original(path, reg.video_id, sha, verdict)
        return verdict

    def _replace_incomplete_copies(self, path: Path, st: os.stat_result, video_id: int) -> str:
        """Forget the videos registered earlier from this file while it was still being
        copied: a copy that paused longer than `inbox.stable_seconds` was registered
        (and most likely failed as truncated) when it only held the first part of what it
        holds now. Only an earlier content that is exactly the start of the file's content
        now counts; a file overwritten with other content keeps its first video. Returns
        what to add to the inbox row's reason ('' when nothing was replaced)."""
        with self.db.read() as session:
            earlier = session.scalars(
                select(Video)
                .where(Video.path == str(path.resolve()))
                .where(Video.id != video_id)
                .where(Video.size_bytes < st.st_size)
            ).all()
        replaced = [old for old in earlier if _starts_with(path, old.size_bytes, old.sha256)]
        for old in replaced:
            self._forget_incomplete(old)
            log.info(
                "%s: video %d was registered from an incomplete copy of it (%d of %d bytes); "
                "forgotten, the complete file replaces it",
                one_line(path.name),
                old.id,
                old.size_bytes,
                st.st_size,
            )
        return "".join(
            f"; replaces video {old.id}, registered from the first {old.size_bytes:,} of its "
            f"{st.st_size:,} bytes while the copy paused (longer than inbox.stable_seconds)"
            for old in replaced
        )

    def _forget_incomplete(self, old: Video) -> None:
        """Forget a video registered from an incomplete copy: rows, then files. Its name
        is marked first, so that the labels of the clip name (which belong to the complete
        file) are kept."""
        paths = [str(p) for p in video_files(self.config, self.store, old, keep_original=True)]
        with self.db.write() as session:
            video = session.get(Video, old.id)
            if video is None:
                return
            video.name = f"{old.name} (incomplete copy)"
            session.flush()
            forget_video(session, old.id, paths)
        resume_forgets(self.db, self.store, old.sha256)

    def _own_registration(self, video_id: int, path: Path) -> bool:
        """Whether the video that holds this content was registered from this very inbox
        file (a crash came before its inbox row, or its move, was recorded; or the file
        was touched since): it is not a duplicate of itself."""
        with self.db.read() as session:
            video = session.get(Video, video_id)
            return video is not None and video.path == str(path.resolve())

    def _move_original(self, path: Path, video_id: int, sha: str, verdict: FileVerdict) -> None:
        """Move a registered original into the store, then record its new path and the
        inbox row in one transaction. A crash in between leaves the file at its
        destination (`move_destination`, fixed by the registration) and the video's old
        path: workers and the next rescan find it there and finish the bookkeeping."""
        target = move_destination(self.store, sha, path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        _move_file(self.store, path.resolve(), target)
        if path.is_symlink():
            path.unlink()
        with self.db.write() as session:
            session.get(Video, video_id).path = str(target)
            row = _file_row(session, path)
            if row is not None:
                row.state, row.reason, row.video_id = verdict.state, verdict.reason, video_id
