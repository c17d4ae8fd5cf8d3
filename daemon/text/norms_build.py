"""Norms from this lprd home's own processed videos (`lprd norms rebuild`).

The shipped norms come from the literature and the First Impressions transcripts. A lab
that has processed many clips of its own can compare each clip with those instead: for
every "more / less than most" norm, the 10th, 25th, 75th and 90th percentiles of the
measure over the videos whose stages finished become the cuts (the shipped words stay).
Norms that are standards rather than comparisons with other people (recording loudness)
are not rebuilt. A measure with fewer than
`min_clips` values keeps its shipped cuts. The result goes to HOME/norms.json with the
clips it came from; its version enters describe's fingerprint, so every description is
rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from daemon.text.norms import LOCAL_NAME, NORMS_FILE
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import StageRun, Video
from storage.outputs import StageOutput
from storage.states import StageStatus

PERCENTILES = (10, 25, 75, 90)
MIN_CLIPS = 30
Summaries = Mapping[str, Mapping[str, Any]]  # {stage: summary} of one video


def _key(stage: str, key: str) -> Callable[[Summaries], Any]:
    return lambda s: (s.get(stage) or {}).get(key)


def _pitch(gender: str) -> Callable[[Summaries], Any]:
    def value(s: Summaries) -> Any:
        face = s.get("analyze_face") or {}
        return (
            (s.get("prosody") or {}).get("pitch_mean_hz")
            if face.get("apparent_gender") == gender
            else None
        )

    return value


def _video_word_rate(s: Summaries) -> Any:
    words = (s.get("transcribe") or {}).get("word_count")
    duration = (s.get("probe") or {}).get("duration_s")
    return words / duration if isinstance(words, int) and duration else None


# The norms compared with other people, and how to read each one's value off a video.
MEASURES: dict[str, Callable[[Summaries], Any]] = {
    "speech_rate_sps": _key("prosody", "speech_rate_sps"),
    "word_rate_video_wps": _video_word_rate,
    "pitch_mean_hz_male": _pitch("male"),
    "pitch_mean_hz_female": _pitch("female"),
    "pitch_sd_semitones": _key("prosody", "pitch_sd_semitones"),
    "pause_mean_s": _key("prosody", "pause_mean_s"),
    "blinks_per_min": _key("analyze_face", "blinks_per_min"),
}
STAGES = ("probe", "transcribe", "prosody", "analyze_face")


def collect(db: Database, store: ArtifactStore) -> dict[str, dict[str, Any]]:
    """{video name: {stage: summary}} for every video with a finished analysis stage."""
    with db.read() as session:
        rows = session.execute(
            select(Video.name, StageRun.stage, StageRun.artifact)
            .join(StageRun, StageRun.video_id == Video.id)
            .where(StageRun.stage.in_(STAGES), StageRun.status == StageStatus.DONE)
            .where(StageRun.artifact.is_not(None))
        ).all()
    videos: dict[str, dict[str, Any]] = {}
    for name, stage, artifact in rows:
        path = store.resolve(artifact)
        if not path.is_file():
            continue
        data = StageOutput.from_json(stage, store.read_json(path)).data
        videos.setdefault(name, {})[stage] = data if stage == "probe" else data.get("summary")
    return videos


@dataclass
class Rebuilt:
    """What a rebuild produced: the file's content and which norms it replaced."""

    raw: dict[str, Any]
    replaced: dict[str, int]  # norm name: clips
    kept: dict[str, int]  # norm name: clips too few to replace it


def build(videos: Mapping[str, Summaries], min_clips: int = MIN_CLIPS) -> Rebuilt:
    """The local norms file's content from the videos' summaries."""
    shipped = json.loads(NORMS_FILE.read_text(encoding="utf-8"))["norms"]
    norms, replaced, kept = {}, {}, {}
    for name, read in MEASURES.items():
        values = {v: read(s) for v, s in videos.items()}
        values = {
            v: float(x) for v, x in values.items() if isinstance(x, int | float) and np.isfinite(x)
        }
        if len(values) < min_clips:
            kept[name] = len(values)
            continue
        cuts = [round(float(c), 4) for c in np.percentile(list(values.values()), PERCENTILES)]
        norms[name] = {
            **shipped[name],
            "cuts": cuts,
            "basis": f"The 10th, 25th, 75th and 90th percentiles over {len(values)} videos "
            "processed by this lprd (`lprd norms rebuild`).",
            "sample": {"clips": len(values), "from": "this lprd's processed videos",
                       "videos": sorted(values)},
        }  # fmt: skip
        replaced[name] = len(values)
    digest = hashlib.sha256(json.dumps(norms, sort_keys=True).encode()).hexdigest()[:10]
    raw = {
        "version": f"local-{digest}",
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "about": "Built by `lprd norms rebuild` from this home's processed videos; these "
        "entries replace the shipped norms of the same name. Delete this file to go back.",
        "norms": norms,
    }
    return Rebuilt(raw, replaced, kept)


def write(home: Path, rebuilt: Rebuilt) -> Path | None:
    """Write HOME/norms.json atomically (or remove it when nothing was rebuilt)."""
    target = home / LOCAL_NAME
    if not rebuilt.replaced:
        target.unlink(missing_ok=True)
        return None
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(rebuilt.raw, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, target)
    return target
