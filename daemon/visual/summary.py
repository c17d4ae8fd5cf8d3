"""From per-frame series to the FaceSummary contract that `describe` reads."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from daemon.config import VisualConfig
from daemon.features import FaceSummary
from daemon.visual import actions, attributes, nods
from daemon.visual.analyze import FrameLog
from daemon.visual.expression import CLASSES
from daemon.visual.subject import RULE

MIN_BLINK_FACE_PX = 60  # below this face width the eyelids span too few pixels
MIN_OPEN_EAR = 0.1  # a median eye aspect ratio under this: eyes not resolved (squint, glasses)
EAR_SHUT_SHARE = 0.6  # shut: eye aspect ratio under this share of the clip's median
MIN_NOD_FPS = 4.0  # a nod's down-up cycle (0.3-1 s) needs a few frames
MAX_NOD_NOISE_DEG = 3.0  # pose jitter above this hides nods of a few degrees


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


def nod_moments(series: dict[str, list[Any]], min_deg: float) -> list[float]:
    """Times (s) of nods (down-up pitch cycles above the run's own pose noise) within runs
    of face frames."""
    times: list[float] = []
    for run in _runs(series):
        keep = [i for i in run if series["pitch"][i] is not None]
        yaw = [series["yaw"][i] for i in keep] if "yaw" in series else None
        if yaw is not None and None in yaw:
            yaw = None
        t = [series["t"][i] for i in keep]
        times += nods.nod_times(t, [series["pitch"][i] for i in keep], min_deg, yaw)
    return times


def nod_count(series: dict[str, list[Any]], min_deg: float) -> int:
    """How many nods the face frames show (see nod_moments)."""
    return len(nod_moments(series, min_deg))


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


def _dwell_frames(step: float) -> int:
    return max(1, round(actions.MIN_DWELL_S / step))


def expressions(log: FrameLog, step: float) -> tuple[dict[str, float], list[str]]:
    """The 7-class model's share of face frames per class after the minimum dwell, and its
    dominant classes (kept in the stage output for comparison; not described)."""
    labels = [e for e in log.series["expression"] if e is not None]
    if not labels:
        return {}, []
    labels = actions.held_states(labels, _dwell_frames(step))
    shares = {c: round(labels.count(c) / len(labels), 4) for c in CLASSES}
    ranked = sorted((c for c in CLASSES if shares[c] > 0), key=lambda c: -shares[c])
    return shares, [c for c in ranked if shares[c] >= 0.2][:3] or ranked[:1]


def expression_changes(series: dict[str, list[Any]], step: float) -> int | None:
    """Changes between held facial-action states (see daemon/visual/actions.py) within runs
    of face frames; None when no frame has action scores."""
    changes, seen = 0, False
    for run in _runs(series):
        cols = {k: [series[k][i] for i in run] for k in actions.SERIES_KEY.values() if k in series}
        if len(cols) < len(actions.SERIES_KEY):
            return None
        states = [actions.frame_state({k: v[j] for k, v in cols.items()}) for j in range(len(run))]
        states = [x for x in states if x is not None]
        seen = seen or bool(states)
        changes += actions.state_changes(states, _dwell_frames(step))
    return changes if seen else None


def blink_check(log: FrameLog, cfg: VisualConfig) -> str | None:
    """Why the blink count of this clip cannot be trusted, or None when it can: the face is
    too small, the eyes are barely open in the landmarks, or the blendshape count and the
    eye-aspect-ratio count disagree."""
    series = log.series
    widths = _values(series, "face_width_share") * (log.frame_size or (0, 0))[0]
    if widths.size and float(np.median(widths)) < MIN_BLINK_FACE_PX:
        return f"the face is {np.median(widths):.0f} px wide; blinks need {MIN_BLINK_FACE_PX}"
    ear = _values(series, "ear") if "ear" in series else np.array([])
    if not ear.size:
        return None
    if float(np.median(ear)) < MIN_OPEN_EAR:
        return "the eyes are barely visible (median eye aspect ratio under 0.1)"
    by_shapes = blink_count(series, cfg.blink_threshold)
    by_ear = ear_blink_count(series)
    if abs(by_shapes - by_ear) > max(2, 0.5 * max(by_shapes, by_ear)):
        return (
            f"the blendshape and eye-aspect-ratio blink counts disagree ({by_shapes} vs {by_ear})"
        )
    return None


def ear_blink_count(series: dict[str, list[Any]]) -> int:
    """Open-to-shut transitions where the eye aspect ratio falls under EAR_SHUT_SHARE of the
    clip's median (a relative threshold: resting eye openness differs between people)."""
    ear = _values(series, "ear")
    if not ear.size:
        return 0
    limit = EAR_SHUT_SHARE * float(np.median(ear))
    shut = [None if v is None else v < limit for v in series["ear"]]
    return blink_count({**series, "blink": [None if x is None else float(x) for x in shut]}, 0.5)


def nod_check(log: FrameLog, cfg: VisualConfig) -> str | None:
    """Why nods cannot be counted on this clip, or None."""
    series = log.series
    if cfg.sample_fps < MIN_NOD_FPS:
        return (
            f"{cfg.sample_fps:g} frames per second cannot resolve a nod; it needs {MIN_NOD_FPS:g}"
        )
    pitch = _values(series, "pitch")
    noise = nods.pose_noise(pitch)
    if noise > MAX_NOD_NOISE_DEG:
        return f"the head pose jitters by {noise:.1f} degrees from frame to frame"
    return None


def withheld(log: FrameLog, cfg: VisualConfig) -> dict[str, str]:
    """Measures left out of this clip's summary, with the reason."""
    out = {}
    for key, check in (("blinks_per_min", blink_check), ("nods_per_min", nod_check)):
        reason = check(log, cfg)
        if reason:
            out[key] = reason
    return out


def summarise(log: FrameLog, cfg: VisualConfig, step: float) -> FaceSummary:
    """The FaceSummary of one clip; every key is present, None where nothing was measured."""
    s = log.series
    n_face = sum(1 for f in s["face"] if f)
    minutes = _face_minutes(s, step)
    smiles = _values(s, "smile")
    contact = [c for c in s["eye_contact"] if c is not None]
    shares, dominant = expressions(log, step)
    changes = expression_changes(s, step)
    left_out = withheld(log, cfg)
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
        blinks_per_min=None
        if "blinks_per_min" in left_out
        else per_min(blink_count(s, cfg.blink_threshold)),
        eye_contact_share=round(sum(contact) / len(contact), 4) if contact else None,
        head_yaw_mean_deg=_mean(s, "yaw", 2),
        head_pitch_mean_deg=_mean(s, "pitch", 2),
        head_roll_mean_deg=_mean(s, "roll", 2),
        head_movement_deg_per_s=head_movement(s),
        nods_per_min=None if "nods_per_min" in left_out else per_min(nod_count(s, cfg.nod_min_deg)),
        expressions=shares,
        dominant_expressions=dominant,
        expression_changes_per_min=None if changes is None else per_min(changes),
        facial_actions=actions.shares(s) if changes is not None else {},
        body_motion=_mean(s, "motion", 5),
        face_width_share=_mean(s, "face_width_share"),
        face_center_offset=_mean(s, "face_center_offset"),
        brightness=_mean(s, "brightness"),
        **attributes.summarise(log.attributes),
        glasses=None,
    )
