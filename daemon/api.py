"""The Python API for notebooks: `lprd.open(home)` reads a home's videos, predictions and
measures as plain objects or pandas DataFrames.

Read-only: the database is opened with every write refused, and a home without an
initialised database (or with one at another schema version) is refused, never created
or migrated. The rows are those of `lprd results` (daemon/results.py builds both).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon import results
from daemon.config import Config, load_config
from daemon.errors import EmptyDatabaseError, LprdError
from daemon.targets import TargetSet
from storage.artifacts import ArtifactStore
from storage.db import (
    Database,
    current_revision,
    head_revision,
    is_initialised,
    safe_url,
    sqlite_path,
)
from storage.videos import find_videos


def open_database(config: Config) -> Database:
    """The home's database, read-only; a clear error when it is missing or at another
    schema version than this lprd reads (nothing is created or migrated)."""
    url = config.database_url
    if (sqlite_file := sqlite_path(url)) is not None and sqlite_file.is_file():
        if sqlite_file.stat().st_size == 0:
            raise EmptyDatabaseError(sqlite_file)  # an empty file stays empty
    if not is_initialised(url):
        raise LprdError(f"no lprd database at {safe_url(url)}: run `lprd init` first")
    at, head = current_revision(url), head_revision()
    if at != head:
        raise LprdError(
            f"the database {safe_url(url)} is at schema {at}, this lprd reads {head}: "
            "run `lprd init` to migrate it (reading results never changes a database)"
        )
    return Database(url, read_only=True)


@dataclass(frozen=True)
class VideoInfo:
    """One video: identity, file and the status of each of its stages."""

    id: int
    file_name: str
    sha256: str
    size_bytes: int
    path: str
    added_at: datetime
    stages: dict[str, str]  # stage -> pending, running, done, failed or skipped


@dataclass(frozen=True)
class PredictionInfo:
    """The latest scores of a video in one target set, on the set's declared scales, with
    everything the predict stage recorded."""

    video_id: int
    file_name: str
    model_version: str
    created_at: datetime
    scores: dict[str, float | None]
    intervals: dict[str, list[float]]  # target -> [lo, hi]; {} when withheld or none
    reasons: dict[str, list[dict[str, Any]]]  # target -> [{section, contribution}]
    flags: list[dict[str, str]]  # [{kind, reason}]
    details: dict[str, Any]  # the whole record: head, validation figures, segments, ...
    target_set: str = results.DEFAULT_SET


class Home:
    """A read-only view of one lprd home. Use as a context manager, or call close()."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = open_database(config)
        self.store = ArtifactStore(config.store_dir)

    def __enter__(self) -> Home:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connections."""
        self.db.dispose()

    def videos(self) -> list[VideoInfo]:
        """Every video, in id order."""
        return [_video_info(rec) for rec in results.records(self.db)]

    def video(self, ref: str | int) -> VideoInfo:
        """One video by id, sha256 prefix or file name (as `lprd show VIDEO`)."""
        with self.db.read() as session:
            found = find_videos(session, str(ref))
        if len(found) != 1:
            raise LprdError(f"{ref!r} matches {len(found)} videos; give an id or a longer prefix")
        return _video_info(next(results.records(self.db, [found[0].id])))

    def sets(self) -> dict[str, TargetSet]:
        """Every target set there are results for: the built-in one, those the config
        declares, then those only stored predictions name (as they recorded it). Each
        `TargetSet` names its targets, their scales and what the ends mean."""
        return results.known_sets(self.config, self.db)

    def target_set(self, name: str | None = None) -> TargetSet:
        """One set by name (default: the built-in First Impressions set)."""
        return results.find_set(name, self.config, self.db)

    def predictions(self, set: str | None = None) -> list[PredictionInfo]:
        """The latest prediction of the target set `set` (default First Impressions') of
        every video that has one, in video id order; scores on the set's declared scales."""
        target_set = self.target_set(set)
        return [
            _prediction_info(r, target_set)
            for r in results.records(self.db, set_name=target_set.name)
            if r.prediction
        ]

    def rows(
        self,
        *,
        segments: bool = False,
        measures: bool = False,
        target_set: str | None = None,
        set: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The rows of `lprd results [--set NAME]` (same columns, same values), streamed."""
        chosen = self.target_set(set or target_set)
        return results.rows(self.db, self.store, chosen, segments=segments, measures=measures)

    def measures(self) -> list[dict[str, Any]]:
        """Per video: video_id, file_name, every measure column and each stage's status,
        backend and model (the `--with-measures` columns)."""
        out = []
        for rec in results.records(self.db):
            ident = {"video_id": rec.video.id, "file_name": rec.video.name}
            out.append(ident | results.measures_of(rec, self.store))
        return out

    def columns(
        self,
        *,
        segments: bool = False,
        measures: bool = False,
        target_set: str | None = None,
        set: str | None = None,
    ) -> list[results.Column]:
        """The columns of `rows()`/`table()`: name, type, unit, description."""
        chosen = self.target_set(set or target_set)
        return results.columns(chosen, segments=segments, measures=measures)

    def table(
        self,
        *,
        segments: bool = False,
        measures: bool = False,
        target_set: str | None = None,
        set: str | None = None,
    ) -> Any:
        """`rows()` as a pandas DataFrame, typed by the data dictionary."""
        name = set or target_set
        cols = self.columns(segments=segments, measures=measures, set=name)
        items = self.rows(segments=segments, measures=measures, set=name)
        return frame(list(items), cols)

    def dictionary(
        self,
        *,
        segments: bool = False,
        measures: bool = True,
        set: str | None = None,
    ) -> Any:
        """The data dictionary as a DataFrame (column, type, unit, description)."""
        pd = _pandas()
        cols = self.columns(segments=segments, measures=measures, set=set)
        return pd.DataFrame(results.dictionary_rows(cols), columns=list(results.DICTIONARY_FIELDS))


def frame(items: list[dict[str, Any]], cols: list[results.Column]) -> Any:
    """Rows as a DataFrame: integers nullable (Int64), numbers float, timestamps datetime."""
    pd = _pandas()
    df = pd.DataFrame.from_records(items, columns=[c.name for c in cols])
    for c in cols:
        if c.type == "integer":
            df[c.name] = df[c.name].astype("Int64")
        elif c.type == "number":
            df[c.name] = df[c.name].astype("float64")
        elif c.type == "timestamp":
            df[c.name] = pd.to_datetime(df[c.name])
    return df


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise LprdError(
            "DataFrames need the pandas package, which is not installed here (./install.sh "
            "brings it; or `pip install pandas`); rows() and the other methods need nothing"
        ) from None
    return pandas


def _video_info(rec: results.VideoRecord) -> VideoInfo:
    v = rec.video
    rank = {name: i for i, name in enumerate(results.STAGES)}
    order = sorted(rec.runs, key=lambda name: (rank.get(name, len(rank)), name))
    stages = {name: rec.runs[name].status for name in order}
    return VideoInfo(v.id, v.name, v.sha256, v.size_bytes, v.path, v.created_at, stages)


def _prediction_info(rec: results.VideoRecord, target_set: TargetSet) -> PredictionInfo:
    p, details = rec.prediction, rec.details
    assert p is not None
    return PredictionInfo(
        video_id=rec.video.id,
        file_name=rec.video.name,
        model_version=p.model_version,
        created_at=p.created_at,
        scores=results.scores_of(p, target_set),
        intervals=details.get("intervals") or {},
        reasons=details.get("reasons") or {},
        flags=details.get("flags") or [],
        details=details,
        target_set=target_set.name,
    )


def open(  # shadows the builtin on purpose: notebooks call `lprd.open(home)`
    home: str | Path | None = None, config_file: str | Path | None = None
) -> Home:
    """A read-only view of the lprd home `home` (default $LPRD_HOME, else ~/lprd)."""
    config = load_config(
        home=Path(home).expanduser() if home is not None else None,
        config_file=Path(config_file).expanduser() if config_file is not None else None,
    )
    return Home(config)
