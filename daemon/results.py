"""Results for analysis: one flat row per video (or per segment of a long video) with its
scores, intervals, serving model, flags, top reasons and, on request, every measure that
reaches a description and the backend of each stage.

The one place rows are built: `lprd results`, the dashboard's download and the Python API
(`lprd.open`) all read `rows()` and `columns()`. Rows are streamed: the database is read a
batch of videos at a time and the artifacts of one video at a time. Old predictions that
lack a detail (flags, segments, ...) give empty cells. Nothing here writes to the database.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from daemon.config import Config
from daemon.config.targets import BUILTIN_SET, FI_COLUMNS
from daemon.errors import LprdError
from daemon.targets import Target, TargetSet, described_set, first_impressions, target_sets
from daemon.video_record import read_output
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import DONE, TARGETS, Prediction, StageRun, Video

# The target set of the results when none is named: First Impressions' built-in six. Any
# set declared in the config ([targets.NAME]) or recorded with stored predictions can be
# named instead (`find_set`).
DEFAULT_SET = BUILTIN_SET
FORMATS = ("csv", "parquet", "jsonl")
REASONS_SHOWN = 3  # sections per target in the `<target>_reasons` column
BATCH = 200  # videos read from the database at once
# Stages whose status, backend and model `--with-measures` adds, in a fixed column order
# (the stage order of the first release: kept when analyze_face moved before diarize, so
# analysts' scripts keep reading the same columns; a test keeps the set in the pipeline).
STAGES = (
    "probe",
    "extract_audio",
    "diarize",
    "transcribe",
    "speech_emotion",
    "prosody",
    "analyze_face",
    "describe",
    "predict",
)
# daemon/visual/actions.py ACTIONS (names with spaces become underscores in columns) and
# emotion2vec's classes (daemon/audio/emotion2vec_backend.py label_name); a test keeps
# the first in step. Not imported: both modules pull numpy, and exports stay light.
FACIAL_ACTIONS = ("smile", "brow raise", "brow lowering", "lip press", "jaw drop")
EMOTIONS = (
    "angry",
    "disgusted",
    "fearful",
    "happy",
    "neutral",
    "other",
    "sad",
    "surprised",
    "unknown",
)


@dataclass(frozen=True)
class Column:
    """One column of the results: its stable name, type, unit and meaning."""

    name: str
    type: str  # integer, number, text or timestamp (ISO 8601, UTC)
    unit: str
    description: str


@dataclass(frozen=True)
class Measure:
    """A measure taken from a stage's output: `path` inside its `data["summary"]` (probe:
    inside its `data`), exported as the column `<stage>.<key>`."""

    stage: str
    key: str
    type: str
    unit: str
    description: str
    path: tuple[str, ...] = ()

    @property
    def column(self) -> Column:
        """The measure's column."""
        return Column(f"{self.stage}.{self.key}", self.type, self.unit, self.description)

    def value(self, data: dict[str, Any]) -> Any:
        """The measure's value in a stage output's data, typed; None when absent."""
        node: Any = data if self.stage == "probe" else data.get("summary")
        for part in self.path or (self.key,):
            node = node.get(part) if isinstance(node, dict) else None
        return typed(node, self.type)


def typed(value: Any, kind: str) -> Any:
    """`value` as the column type says, None for anything that does not fit."""
    if value is None or isinstance(value, bool) and kind != "text":
        return None
    if kind == "integer":
        return int(value) if isinstance(value, int | float) and value == value else None
    if kind == "number":
        return float(value) if isinstance(value, int | float) and value == value else None
    return value if isinstance(value, str) else None


def _m(stage: str, key: str, kind: str, unit: str, about: str, path: str = "") -> Measure:
    return Measure(stage, key, kind, unit, about, tuple(path.split(".")) if path else ())


MEASURES: tuple[Measure, ...] = (
    _m("probe", "width", "integer", "px", "picture width", "video.width"),
    _m("probe", "height", "integer", "px", "picture height", "video.height"),
    _m("probe", "fps", "number", "1/s", "frame rate", "video.fps"),
    _m("diarize", "num_speakers", "integer", "", "speakers detected (estimated, never forced)"),
    _m("diarize", "subject_talk_time_s", "number", "s", "the subject's speaking time"),
    _m("diarize", "speech_s", "number", "s", "speech of all speakers"),
    _m("transcribe", "word_count", "integer", "words", "words of the subject's transcript"),
    _m("transcribe", "language", "text", "", "language of the transcript (ISO code)"),
    _m("speech_emotion", "changes_per_min", "number", "1/min", "changes of the top emotion"),
    *(
        _m(
            "speech_emotion",
            f"distribution.{e}",
            "number",
            "share",
            f"emotion heard in the voice: mean probability of {e!r}",
            f"distribution.{e}",
        )
        for e in EMOTIONS
    ),  # fmt: skip
    _m("prosody", "speech_rate_sps", "number", "syll/s", "speaking rate (syllables/s of speech)"),
    _m("prosody", "speech_rate_wps", "number", "words/s", "words per second of speech"),
    _m("prosody", "speech_rate_source", "text", "", "syllables from: transcript or acoustic"),
    _m("prosody", "pause_count", "integer", "", "pauses (count)"),
    _m("prosody", "pauses_per_min", "number", "1/min", "pauses per minute of talk"),
    _m("prosody", "pause_mean_s", "number", "s", "mean pause length"),
    _m("prosody", "speech_ratio", "number", "share", "pauses: speech share of the talk"),
    _m("prosody", "pitch_mean_hz", "number", "Hz", "pitch mean"),
    _m("prosody", "pitch_sd_semitones", "number", "st", "pitch SD"),
    _m("prosody", "pitch_range_semitones", "number", "st", "pitch 5-95 % range"),
    _m("prosody", "loudness_lufs", "number", "LUFS", "loudness (ITU-R BS.1770)"),
    _m("prosody", "loudness_sd_db", "number", "dB", "loudness spread"),
    _m("prosody", "jitter_local", "number", "fraction", "jitter (0.01 = 1 %)"),
    _m("prosody", "shimmer_local", "number", "fraction", "shimmer (0.01 = 1 %)"),
    _m("prosody", "hnr_db", "number", "dB", "HNR (harmonics-to-noise ratio)"),
    _m("prosody", "voiced_share", "number", "share", "voiced share"),
    _m("analyze_face", "frames_sampled", "integer", "frames", "frames sampled"),
    _m("analyze_face", "face_share", "number", "share", "frames with the subject's face"),
    _m("analyze_face", "max_faces", "integer", "", "most faces seen in one frame"),
    _m("analyze_face", "smile_mean", "number", "0-1", "smile (mean)"),
    _m("analyze_face", "smile_share", "number", "share", "smile (share of frames)"),
    *(
        _m(
            "analyze_face",
            f"facial_actions.{a.replace(' ', '_')}",
            "number",
            "share",
            f"facial actions: {a} (share of face frames)",
            f"facial_actions.{a}",
        )
        for a in FACIAL_ACTIONS
    ),  # fmt: skip
    _m("analyze_face", "expression_changes_per_min", "number", "1/min", "expression changes"),
    _m("analyze_face", "blinks_per_min", "number", "1/min", "blinks"),
    _m("analyze_face", "eye_contact_share", "number", "share", "eye contact"),
    _m("analyze_face", "eye_openness_mean", "number", "0-1", "eye openness"),
    _m("analyze_face", "brow_raise_mean", "number", "0-1", "brow raise"),
    _m("analyze_face", "head_yaw_mean_deg", "number", "deg", "head pose: yaw"),
    _m("analyze_face", "head_pitch_mean_deg", "number", "deg", "head pose: pitch"),
    _m("analyze_face", "head_roll_mean_deg", "number", "deg", "head pose: roll"),
    _m("analyze_face", "head_movement_deg_per_s", "number", "deg/s", "head movement"),
    _m("analyze_face", "nods_per_min", "number", "1/min", "nods"),
    _m("analyze_face", "body_motion", "number", "0-1", "body movement"),
    _m("analyze_face", "face_width_share", "number", "share", "framing: face width / frame"),
    _m("analyze_face", "face_center_offset", "number", "0-1", "framing: 0 centred, 1 edge"),
    _m("analyze_face", "brightness", "number", "0-1", "brightness (mean luma)"),
    _m("analyze_face", "apparent_age", "number", "years", "apparent age (model estimate)"),
    _m("analyze_face", "apparent_age_range", "text", "", "apparent age range"),
    _m("analyze_face", "apparent_gender", "text", "", "apparent gender (model estimate)"),
    _m("analyze_face", "apparent_gender_confidence", "number", "0-1", "its confidence"),
)


# --- target sets -----------------------------------------------------------------------


def recorded_set(details: dict[str, Any]) -> TargetSet | None:
    """The set a prediction's details describe (the predict stage records
    `TargetSet.describe()` there), or None for a prediction that does not say."""
    return described_set(details.get("target_set"))


def _details(raw: str | None) -> dict[str, Any]:
    try:
        details = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return details if isinstance(details, dict) else {}


def recorded_details(prediction: Prediction) -> dict[str, Any]:
    """A prediction's details ({} when it has none or they do not read as an object)."""
    return _details(prediction.details_json)


def _stored_set(db: Database, name: str) -> TargetSet | None:
    """The set `name` as its latest stored prediction recorded it, or None."""
    with db.read() as session:
        raws = session.scalars(
            select(Prediction.details_json)
            .where(Prediction.target_set == name)
            .order_by(Prediction.created_at.desc(), Prediction.id.desc())
            .limit(20)
        ).all()
    return next((s for s in (recorded_set(_details(r)) for r in raws) if s is not None), None)


def stored_set_names(db: Database) -> list[str]:
    """The names of the sets stored predictions belong to."""
    with db.read() as session:
        return sorted(session.scalars(select(Prediction.target_set).distinct()))


def known_sets(config: Config | None = None, db: Database | None = None) -> dict[str, TargetSet]:
    """Every set results can be given for: the built-in one, those the config declares
    (in its order), then those only stored predictions name (by name), as they recorded
    it."""
    sets = target_sets(config)
    for name in stored_set_names(db) if db is not None else ():
        if name not in sets and (found := _stored_set(db, name)) is not None:
            sets[name] = found
    return sets


def find_set(
    name: str | TargetSet | None, config: Config | None = None, db: Database | None = None
) -> TargetSet:
    """The set `name` (None: the built-in one): as the config declares it, else as its
    stored predictions recorded it; a clear error naming the sets there are."""
    if isinstance(name, TargetSet):
        return name
    name = name or DEFAULT_SET
    declared = target_sets(config)
    if name in declared:
        return declared[name]
    found = _stored_set(db, name) if db is not None else None
    if found is not None:
        return found
    known = ", ".join(known_sets(config, db))
    raise LprdError(
        f"unknown target set {name!r}: the target sets are {known} (a study declares its "
        f"own as [targets.{name}] in the config file)"
    )


def order_sets(names: Iterable[str], config: Config | None = None) -> list[str]:
    """Set names in the order people read them: the built-in one, the declared ones in
    config order, then any other alphabetically."""
    rank = {name: i for i, name in enumerate(target_sets(config))}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


def scores_of(prediction: Prediction, target_set: TargetSet) -> dict[str, float | None]:
    """A prediction's score of each target of the set, on the declared scale: from
    `scores_json`, or, for a First Impressions row written before it existed, from the six
    columns."""
    raw = _details(prediction.scores_json) if prediction.scores_json else None
    if raw:
        return {t: typed(raw.get(t), "number") for t in target_set.names}
    if prediction.target_set == BUILTIN_SET:
        return {t: typed(getattr(prediction, t, None), "number") for t in target_set.names}
    return dict.fromkeys(target_set.names)


def latest_by_set(db: Database, video_id: int) -> dict[str, Prediction]:
    """The latest prediction of each set a video has (detached rows)."""
    with db.read() as session:
        found = session.scalars(
            select(Prediction)
            .where(Prediction.video_id == video_id)
            .order_by(Prediction.created_at, Prediction.id)
        ).all()
    return {p.target_set: p for p in found}  # the last one of each set wins


def set_of_prediction(prediction: Prediction, config: Config | None = None) -> TargetSet:
    """The set a prediction is presented with: as the config declares it, else as the
    prediction recorded it, else (a First Impressions row) the built-in one."""
    declared = target_sets(config)
    if prediction.target_set in declared:
        return declared[prediction.target_set]
    found = recorded_set(_details(prediction.details_json))
    if found is not None:
        return found
    raw = _details(prediction.scores_json)
    unit = (Target(n, n, 0.0, 1.0, "", "") for n in raw)
    return TargetSet(prediction.target_set, "", tuple(unit))


def as_set(targets: TargetSet | Sequence[str]) -> TargetSet:
    """A set from a set, or from target names (First Impressions' six: the built-in set;
    others: targets on a 0..1 scale)."""
    if isinstance(targets, TargetSet):
        return targets
    if tuple(targets) == FI_COLUMNS:
        return first_impressions()
    unit = tuple(Target(n, n, 0.0, 1.0, "", "") for n in targets)
    return TargetSet("custom", "", unit)


def _c(name: str, kind: str, unit: str, about: str) -> Column:
    return Column(name, kind, unit, about)


VIDEO_COLUMNS = (
    _c("video_id", "integer", "", "lprd's id of the video (`lprd show ID`)"),
    _c("file_name", "text", "", "file name the video arrived under"),
    _c("sha256", "text", "", "SHA-256 of the file's content: the video's identity"),
    _c("size_bytes", "integer", "bytes", "file size"),
    _c("added_at", "timestamp", "", "when lprd registered the video (UTC)"),
    _c("duration_s", "number", "s", "duration (probe)"),
    _c("target_set", "text", "", "the target set of the scores"),
    _c("predict_status", "text", "", "predict stage: done, pending, running, failed, skipped"),
    _c("predicted_at", "timestamp", "", "when the scores were made (UTC); empty: no scores yet"),
    _c("model_version", "text", "", "the model that gave the scores"),
    _c("head", "text", "", "its head (ensemble, regression, numeric, ...)"),
    _c("feature_profile", "text", "", "the description it read: full or transcript_only"),
    _c("transcript_source", "text", "", "the transcript scored (official or automatic)"),
    _c("val_mean_accuracy", "number", "0-1", "the model's validation mean accuracy (1 - MAE)"),
    _c("val_baseline_mean_accuracy", "number", "0-1", "train-mean baseline on the same rows"),
    _c("interval_level", "number", "0-1", "coverage of the intervals (0.9: 90 % intervals)"),
)
VIDEO_TAIL = (
    _c("flags", "text", "", "why the input lies outside the model's training range ('; ')"),
    _c("flag_kinds", "text", "", "the flags' kinds, comma-separated"),
    _c("interval_withheld_because", "text", "", "why the video has no intervals, if so"),
    _c("segments", "integer", "", "segments a long video was scored as; empty: scored whole"),
    _c("segments_counted", "integer", "", "segments its score is the speech-weighted mean of"),
)
SEGMENT_COLUMNS = (
    _c("segment", "integer", "", "segment number (1 = first); empty: the video was scored whole"),
    _c("segment_start_s", "number", "s", "segment start"),
    _c("segment_end_s", "number", "s", "segment end"),
    _c("segment_speech_s", "number", "s", "the subject's speech in the segment"),
    _c("segment_words", "integer", "words", "the subject's words in the segment"),
)


def scale_unit(target: Target) -> str:
    """The unit column of a score on this target's scale: '0-1', '1-7', '-3 to 3'."""
    sep = "-" if target.low >= 0 else " to "
    return f"{target.low:g}{sep}{target.high:g}"


def target_columns(target_set: TargetSet | Sequence[str], segments: bool) -> list[Column]:
    """Score, interval bounds and top reasons of each target (and the spread of the
    segment scores, per video); for a study's set each says the declared scale and what
    its ends mean."""
    target_set = as_set(target_set)
    what = "the segment's" if segments else "the video's"
    out: list[Column] = []
    for t in target_set.targets:
        unit = scale_unit(t)
        about = f"{what} {t.name} score"
        if not target_set.builtin:
            about += f" on its declared scale {t.low:g} to {t.high:g}"
            about += f": {t.description}" if t.description else ""
            about += f" ({t.direction()})" if t.high_words or t.low_words else ""
        out += [
            _c(t.name, "number", unit, about),
            _c(f"{t.name}_lo", "number", unit, "lower bound of its interval (interval_level)"),
            _c(f"{t.name}_hi", "number", unit, "upper bound of its interval"),
            _c(f"{t.name}_reasons", "text", "", f"top {REASONS_SHOWN} description sections "
               "and their contribution to the score (section +0.031; ...)"
               + ("" if target_set.unit_scale else f", on the scale {unit}")),
            _c(f"{t.name}_segment_sd", "number", unit, "SD of the counted segments' scores"),
        ]  # fmt: skip
    return out


def stage_columns() -> list[Column]:
    """Status, backend and model of every stage."""
    out: list[Column] = []
    for stage in STAGES:
        out += [
            _c(f"{stage}.status", "text", "", f"{stage} stage: done, skipped, failed, ..."),
            _c(f"{stage}.backend", "text", "", "the backend that produced its output"),
            _c(f"{stage}.model", "text", "", "the model (and version) that produced it"),
        ]
    return out


def columns(
    targets: TargetSet | Sequence[str] = TARGETS,
    *,
    segments: bool = False,
    measures: bool = False,
) -> list[Column]:
    """The columns of the results of a target set (or of First Impressions' target
    names), in order: the same for every row."""
    target_set = as_set(targets)
    ident = list(VIDEO_COLUMNS)
    if not target_set.builtin:
        about = f"the target set of the scores: {target_set.name}"
        about += f" ({target_set.description})" if target_set.description else ""
        ident = [
            _c("target_set", "text", "", about) if c.name == "target_set" else c for c in ident
        ]
    cols = [*ident, *(SEGMENT_COLUMNS if segments else ())]
    cols += [*target_columns(target_set, segments), *VIDEO_TAIL]
    if measures:
        cols += [*(m.column for m in MEASURES), *stage_columns()]
    names = [c.name for c in cols]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise LprdError(
            f"the target set {target_set.name!r} has targets whose columns clash with the "
            f"results' own ({', '.join(clashes)}): rename those targets in its [targets."
            f"{target_set.name}] section"
        )
    return cols


@dataclass
class VideoRecord:
    """What the database holds about one video: its row, stage runs, latest prediction
    (of the set it was read for)."""

    video: Video
    runs: dict[str, StageRun] = field(default_factory=dict)
    prediction: Prediction | None = None

    @property
    def details(self) -> dict[str, Any]:
        """The prediction's details ({} without a prediction or details)."""
        return _details(self.prediction.details_json if self.prediction is not None else None)

    def data(self, store: ArtifactStore, stage: str) -> dict[str, Any]:
        """The `data` of a stage's output when the stage is done, else {}."""
        run = self.runs.get(stage)
        if run is None or run.status != DONE:
            return {}
        output = read_output(store, run)
        return output.data if output else {}


def records(
    db: Database, video_ids: Iterable[int] | None = None, set_name: str | None = DEFAULT_SET
) -> Iterator[VideoRecord]:
    """Every video (or those of `video_ids`) in id order with its runs and latest
    prediction of the set `set_name` (None: of any set), read from the database `BATCH`
    videos at a time."""
    wanted = sorted(set(video_ids)) if video_ids is not None else None
    last = 0
    while True:
        with db.read() as session:
            query = select(Video).where(Video.id > last).order_by(Video.id).limit(BATCH)
            if wanted is not None:
                query = query.where(Video.id.in_([i for i in wanted if i > last][:BATCH]))
            videos = list(session.scalars(query))
            if not videos:
                return
            batch = {v.id: VideoRecord(v) for v in videos}
            _attach(session, batch, set_name)
        yield from batch.values()
        last = videos[-1].id


def _attach(session: Any, batch: dict[int, VideoRecord], set_name: str | None) -> None:
    """Fill in the stage runs and the latest prediction (of the set) of a batch of videos."""
    ids = list(batch)
    for run in session.scalars(select(StageRun).where(StageRun.video_id.in_(ids))):
        batch[run.video_id].runs[run.stage] = run
    predictions = select(Prediction).where(Prediction.video_id.in_(ids))
    if set_name is not None:
        predictions = predictions.where(Prediction.target_set == set_name)
    order = (Prediction.created_at, Prediction.id)
    for prediction in session.scalars(predictions.order_by(*order)):
        batch[prediction.video_id].prediction = prediction  # the last one wins


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _identity(rec: VideoRecord, store: ArtifactStore, set_name: str) -> dict[str, Any]:
    """Which video, and which model scored it."""
    video, prediction, details = rec.video, rec.prediction, rec.details
    predict = rec.runs.get("predict")
    return {
        "video_id": video.id,
        "file_name": video.name,
        "sha256": video.sha256,
        "size_bytes": video.size_bytes,
        "added_at": _when(video.created_at),
        "duration_s": typed(rec.data(store, "probe").get("duration_s"), "number"),
        "target_set": set_name,
        "predict_status": predict.status if predict is not None else None,
        "predicted_at": _when(prediction.created_at) if prediction is not None else None,
        "model_version": prediction.model_version if prediction is not None else None,
        "head": typed(details.get("head"), "text"),
        "feature_profile": typed(details.get("feature_profile"), "text"),
        "transcript_source": typed(details.get("transcript_source"), "text"),
        "val_mean_accuracy": typed(details.get("val_mean_accuracy"), "number"),
        "val_baseline_mean_accuracy": typed(details.get("val_baseline_mean_accuracy"), "number"),
        "interval_level": typed(details.get("interval_level"), "number"),
    }


def reasons_text(items: Any, shown: int = REASONS_SHOWN) -> str | None:
    """The strongest sections as 'section +0.0310; section -0.0120' (None without any)."""
    pairs = [
        (str(item.get("section")), typed(item.get("contribution"), "number"))
        for item in items or ()
        if isinstance(item, dict)
    ]
    pairs = sorted((p for p in pairs if p[1] is not None), key=lambda p: -abs(p[1]))
    return "; ".join(f"{s} {c:+.4f}" for s, c in pairs[:shown]) or None


def _targets(
    targets: Sequence[str], scores: dict[str, Any], source: dict[str, Any]
) -> dict[str, Any]:
    """Each target's score, interval bounds, reasons and segment spread."""
    intervals = source.get("intervals") or {}
    reasons = source.get("reasons") or {}
    spread = source.get("segment_spread") or {}
    row: dict[str, Any] = {}
    for t in targets:
        bounds = intervals.get(t) if isinstance(intervals, dict) else None
        lo, hi = bounds if isinstance(bounds, list | tuple) and len(bounds) == 2 else (None, None)
        row[t] = typed(scores.get(t), "number")
        row[f"{t}_lo"], row[f"{t}_hi"] = typed(lo, "number"), typed(hi, "number")
        row[f"{t}_reasons"] = reasons_text(reasons.get(t) if isinstance(reasons, dict) else None)
        row[f"{t}_segment_sd"] = typed(
            spread.get(t) if isinstance(spread, dict) else None, "number"
        )
    return row


def _flags(flags: Any) -> dict[str, Any]:
    items = [f for f in flags or () if isinstance(f, dict)]
    return {
        "flags": "; ".join(str(f.get("reason", "")) for f in items) or None,
        "flag_kinds": ",".join(str(f.get("kind", "")) for f in items) or None,
    }


def _tail(details: dict[str, Any], flags: Any) -> dict[str, Any]:
    segments = details.get("segments")
    return {
        **_flags(flags),
        "interval_withheld_because": typed(details.get("interval_withheld_because"), "text"),
        "segments": len(segments) if isinstance(segments, list) and segments else None,
        "segments_counted": typed(details.get("segments_counted"), "integer"),
    }


def measures_of(rec: VideoRecord, store: ArtifactStore) -> dict[str, Any]:
    """Every measure column and each stage's status, backend and model, for one video
    (reads each of its stage outputs once)."""
    row: dict[str, Any] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for m in MEASURES:
        if m.stage not in outputs:
            outputs[m.stage] = rec.data(store, m.stage)
        row[m.column.name] = m.value(outputs[m.stage])
    for stage in STAGES:
        run = rec.runs.get(stage)
        row[f"{stage}.status"] = run.status if run is not None else None
        row[f"{stage}.backend"] = run.backend if run is not None else None
        row[f"{stage}.model"] = run.model if run is not None else None
    return row


def video_row(
    rec: VideoRecord,
    store: ArtifactStore,
    target_set: TargetSet | Sequence[str] = TARGETS,
    measures: bool = False,
) -> dict[str, Any]:
    """The video's row: the columns of `columns(target_set, measures=measures)`."""
    target_set = as_set(target_set)
    details = rec.details
    scores = scores_of(rec.prediction, target_set) if rec.prediction is not None else {}
    row = _identity(rec, store, target_set.name)
    row |= _targets(target_set.names, scores, details) | _tail(details, details.get("flags"))
    return row | (measures_of(rec, store) if measures else {})


def segment_rows(
    rec: VideoRecord,
    store: ArtifactStore,
    target_set: TargetSet | Sequence[str] = TARGETS,
    measures: bool = False,
) -> list[dict[str, Any]]:
    """One row per segment of a long video (the columns of `columns(target_set,
    segments=True, ...)`); a video scored whole gives one row with an empty segment."""
    target_set = as_set(target_set)
    whole = video_row(rec, store, target_set, measures)
    details = rec.details
    segments = [s for s in details.get("segments") or () if isinstance(s, dict)]
    if not segments:
        return [{**whole, **dict.fromkeys(c.name for c in SEGMENT_COLUMNS)}]
    rows = []
    for seg in segments:
        index = typed(seg.get("index"), "integer")
        row = {
            **whole,
            "segment": index + 1 if index is not None else None,
            "segment_start_s": typed(seg.get("start"), "number"),
            "segment_end_s": typed(seg.get("end"), "number"),
            "segment_speech_s": typed(seg.get("speech_s"), "number"),
            "segment_words": typed(seg.get("words"), "integer"),
        }
        scores = seg.get("scores") if isinstance(seg.get("scores"), dict) else {}
        source = {**seg, "segment_spread": details.get("segment_spread")}
        row |= _targets(target_set.names, scores, source) | _flags(seg.get("flags"))
        rows.append(row)
    return rows


def rows(
    db: Database,
    store: ArtifactStore,
    set_name: str | TargetSet | None = DEFAULT_SET,
    *,
    config: Config | None = None,
    segments: bool = False,
    measures: bool = False,
    video_ids: Iterable[int] | None = None,
) -> Iterator[dict[str, Any]]:
    """The results of a target set (a name: see `find_set`), one row per video (or per
    segment), in video id order, streamed."""
    target_set = find_set(set_name, config, db)
    for rec in records(db, video_ids, target_set.name):
        if segments:
            yield from segment_rows(rec, store, target_set, measures)
        else:
            yield video_row(rec, store, target_set, measures)


# --- writing ---------------------------------------------------------------------------

DICTIONARY_FIELDS = ("column", "type", "unit", "description")
CHUNK_ROWS = 200  # rows per CSV chunk streamed and per Parquet row group batch


def dictionary_path(out: Path) -> Path:
    """Where the data dictionary of `out` goes: `results.csv` -> `results.dictionary.csv`."""
    return out.with_name(f"{out.stem if out.suffix else out.name}.dictionary.csv")


def csv_chunks(items: Iterable[dict[str, Any]], cols: Sequence[Column]) -> Iterator[str]:
    """The CSV text (header first), a chunk of rows at a time; empty cells for None."""
    names = [c.name for c in cols]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for n, row in enumerate(items, 1):
        writer.writerow(["" if row.get(k) is None else row[k] for k in names])
        if n % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def dictionary_rows(cols: Sequence[Column]) -> list[dict[str, str]]:
    """The data dictionary: one row (column, type, unit, description) per column."""
    return [
        {"column": c.name, "type": c.type, "unit": c.unit, "description": c.description}
        for c in cols
    ]


def dictionary_chunks(cols: Sequence[Column]) -> Iterator[str]:
    """The data dictionary as CSV text."""
    fields = [Column(k, "text", "", "") for k in DICTIONARY_FIELDS]
    return csv_chunks(dictionary_rows(cols), fields)


def require_parquet() -> None:
    """Fail clearly when pyarrow, which writes Parquet, is not installed."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise LprdError(
            "--format parquet needs the pyarrow package, which is not installed here "
            "(./install.sh brings it; or `.venv/bin/pip install pyarrow`); csv and jsonl "
            "need nothing"
        ) from None


def _write_parquet(items: Iterable[dict[str, Any]], cols: Sequence[Column], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {"integer": pa.int64(), "number": pa.float64()}
    schema = pa.schema([(c.name, kinds.get(c.type, pa.string())) for c in cols])
    count = 0
    iterator = iter(items)
    with pq.ParquetWriter(path, schema) as writer:
        while batch := list(itertools.islice(iterator, CHUNK_ROWS)):
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


def _write_text(
    items: Iterable[dict[str, Any]], cols: Sequence[Column], path: Path, fmt: str
) -> int:
    count = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal count
        for row in items:
            count += 1
            yield row

    with open(path, "w", encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            fh.writelines(csv_chunks(counted(), cols))
        else:
            names = [c.name for c in cols]
            for row in counted():
                fh.write(json.dumps({k: row.get(k) for k in names}, ensure_ascii=False) + "\n")
    return count


def write_results(
    items: Iterable[dict[str, Any]], cols: Sequence[Column], out: Path, fmt: str
) -> int:
    """Write the rows to `out` in `fmt` (csv, jsonl, parquet) and the data dictionary
    beside it; each file appears whole or not at all. Returns the number of rows."""
    if fmt not in FORMATS:
        raise LprdError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        require_parquet()
    partial = out.with_name(out.name + ".partial")
    try:
        if fmt == "parquet":
            count = _write_parquet(items, cols, partial)
        else:
            count = _write_text(items, cols, partial, fmt)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    write_dictionary(cols, dictionary_path(out))
    return count


def write_dictionary(cols: Sequence[Column], path: Path) -> None:
    """The data dictionary (CSV: column, type, unit, description), written atomically."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(dictionary_chunks(cols)), encoding="utf-8")
    os.replace(partial, path)
