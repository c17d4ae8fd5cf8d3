"""From per-frame series to the FaceSummary contract that `describe` reads."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from daemon.features import FaceSummary
from daemon.visual import attributes
from daemon.visual.analyze import FrameLog
from daemon.visual.config import VisualConfig
from daemon.visual.expression import CLASSES
from daemon.visual.subject import RULE

NOD_MAX_GAP_S = 1.5  # a down and the following up swing must be this close to make one nod


def _values(series: dict[str, list[Any]], key: str) -> np.ndarray:
    return np.array([v for v in series[key] if v is not None], dtype=np.float64)


def _mean(series: dict[str, list[Any]], key: str, digits: int = 4) -> float | None:
    v = _values(series, key)
    return round(float(v.mean()), digits) if v.size else None


def _runs(series: dict[str, list[Any]]) -> list[list[int]]:
    """Index runs of consecutive frames with a face (rates are only counted inside runs)."""
    runs: list[list[int]] = []
    for i, present in enumerate(series["face"]):
        if present and runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        elif present:
            runs.append([i])
    return runs


def _face_minutes(series: dict[str, list[Any]], step: float) -> float:
    return sum(len(r) for r in _runs(series)) * step / 60.0


def blink_count(series: dict[str, list[Any]], threshold: float) -> int:
    """Open-to-shut transitions of the eyes within runs of face frames."""
    count = 0
    for run in _runs(series):
        shut = [series["blink"][i] is not None and series["blink"][i] > threshold for i in run]
        count += sum(1 for a, b in itertools.pairwise(shut) if b and not a)
    return count


def nod_count(series: dict[str, list[Any]], min_deg: float) -> int:
    """Down-then-up (or up-then-down) pitch swings of at least `min_deg` each, close in time."""
    nods = 0
    for run in _runs(series):
        t = [series["t"][i] for i in run if series["pitch"][i] is not None]
        p = [series["pitch"][i] for i in run if series["pitch"][i] is not None]
        swings: list[tuple[float, float]] = []  # (time, signed size) between turning points
        start = 0
        for i in range(1, len(p)):
            last = i == len(p) - 1
            turning = not last and (p[i] - p[i - 1]) * (p[i + 1] - p[i]) < 0
            if turning or last:
                swings.append((t[i], p[i] - p[start]))
                start = i
        i = 0
        while i < len(swings) - 1:
            (t1, a), (t2, b) = swings[i], swings[i + 1]
            if abs(a) >= min_deg and abs(b) >= min_deg and a * b < 0 and t2 - t1 <= NOD_MAX_GAP_S:
                nods += 1
                i += 2
            else:
                i += 1
    return nods


def head_movement(series: dict[str, list[Any]]) -> float | None:
    """Mean angular speed of the head (deg/s) between consecutive face frames."""
    speeds = []
    for run in _runs(series):
        for i, j in itertools.pairwise(run):
            a = [series[k][i] for k in ("yaw", "pitch", "roll")]
            b = [series[k][j] for k in ("yaw", "pitch", "roll")]
            dt = series["t"][j] - series["t"][i]
            if None not in a and None not in b and dt > 0:
                speeds.append(float(np.linalg.norm(np.subtract(b, a))) / dt)
    return round(float(np.mean(speeds)), 3) if speeds else None


def expressions(log: FrameLog) -> tuple[dict[str, float], list[str], int]:
    """Share of face frames per class, the dominant classes, and how often the top class
    changes to one that holds for at least two frames."""
    labels = [e for e in log.series["expression"] if e is not None]
    if not labels:
        return {}, [], 0
    shares = {c: round(labels.count(c) / len(labels), 4) for c in CLASSES}
    ranked = sorted((c for c in CLASSES if shares[c] > 0), key=lambda c: -shares[c])
    dominant = [c for c in ranked if shares[c] >= 0.2][:3] or ranked[:1]
    changes = 0
    current = labels[0]
    for label, following in itertools.pairwise(labels):
        # A new class counts once it holds for two frames in a row: one odd frame is noise.
        if label != current and label == following:
            changes += 1
            current = label
    return shares, dominant, changes


def summarise(log: FrameLog, cfg: VisualConfig, step: float) -> FaceSummary:
    """The FaceSummary of one clip; every key is present, None where nothing was measured."""
    s = log.series
    n_face = sum(1 for f in s["face"] if f)
    minutes = _face_minutes(s, step)
    smiles = _values(s, "smile")
    contact = [c for c in s["eye_contact"] if c is not None]
    shares, dominant, changes = expressions(log)
    per_min = (lambda count: round(count / minutes, 2)) if minutes > 0 else (lambda count: None)
    return FaceSummary(
        frames_sampled=log.frames,
        face_share=round(n_face / log.frames, 4) if log.frames else 0.0,
        max_faces=log.max_faces,
        subject_rule=RULE,
        smile_mean=_mean(s, "smile"),
        smile_share=round(float((smiles > cfg.smile_threshold).mean()), 4) if smiles.size else None,
        brow_raise_mean=_mean(s, "brow_raise"),
        eye_openness_mean=_mean(s, "eye_openness"),
        blinks_per_min=per_min(blink_count(s, cfg.blink_threshold)),
        eye_contact_share=round(sum(contact) / len(contact), 4) if contact else None,
        head_yaw_mean_deg=_mean(s, "yaw", 2),
        head_pitch_mean_deg=_mean(s, "pitch", 2),
        head_roll_mean_deg=_mean(s, "roll", 2),
        head_movement_deg_per_s=head_movement(s),
        nods_per_min=per_min(nod_count(s, cfg.nod_min_deg)),
        expressions=shares,
        dominant_expressions=dominant,
        expression_changes_per_min=per_min(changes) if shares else None,
        body_motion=_mean(s, "motion", 5),
        face_width_share=_mean(s, "face_width_share"),
        face_center_offset=_mean(s, "face_center_offset"),
        brightness=_mean(s, "brightness"),
        **attributes.summarise(log.attributes),
        glasses=None,
    )
