"""Events and rates in per-frame series: blinks, nods, head movement, expression changes.

Every count is taken within runs of consecutive frames with the subject's face: a gap in
the face track never makes or joins an event.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from daemon.visual import actions, nods

EAR_SHUT_SHARE = 0.6  # shut: eye aspect ratio under this share of the clip's median


def values(series: dict[str, list[Any]], key: str) -> np.ndarray:
    """The values of one column that exist."""
    return np.array([v for v in series[key] if v is not None], dtype=np.float64)


def face_runs(series: dict[str, list[Any]]) -> list[list[int]]:
    """Index runs of consecutive frames with a face (rates are only counted inside runs)."""
    runs: list[list[int]] = []
    for i, present in enumerate(series["face"]):
        if present and runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        elif present:
            runs.append([i])
    return runs


def blink_count(series: dict[str, list[Any]], threshold: float) -> int:
    """Open-to-shut transitions of the eyes within runs of face frames."""
    count = 0
    for run in face_runs(series):
        shut = [series["blink"][i] is not None and series["blink"][i] > threshold for i in run]
        count += sum(1 for a, b in itertools.pairwise(shut) if b and not a)
    return count


def ear_blink_count(series: dict[str, list[Any]]) -> int:
    """Open-to-shut transitions where the eye aspect ratio falls under EAR_SHUT_SHARE of the
    clip's median (a relative threshold: resting eye openness differs between people)."""
    ear = values(series, "ear")
    if not ear.size:
        return 0
    limit = EAR_SHUT_SHARE * float(np.median(ear))
    shut = [None if v is None else v < limit for v in series["ear"]]
    return blink_count({**series, "blink": [None if x is None else float(x) for x in shut]}, 0.5)


def nod_moments(series: dict[str, list[Any]], min_deg: float) -> list[float]:
    """Times (s) of nods (down-up pitch cycles above the run's own pose noise) within runs
    of face frames."""
    times: list[float] = []
    for run in face_runs(series):
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
    for run in face_runs(series):
        for i, j in itertools.pairwise(run):
            a = [series[k][i] for k in ("yaw", "pitch", "roll")]
            b = [series[k][j] for k in ("yaw", "pitch", "roll")]
            dt = series["t"][j] - series["t"][i]
            if None not in a and None not in b and dt > 0:
                speeds.append(float(np.linalg.norm(np.subtract(b, a))) / dt)
    return round(float(np.mean(speeds)), 3) if speeds else None


def dwell_frames(step: float) -> int:
    """Frames an expression state must hold at `step` seconds per frame."""
    return max(1, round(actions.MIN_DWELL_S / step))


def expression_changes(series: dict[str, list[Any]], step: float) -> int | None:
    """Changes between held facial-action states (see daemon/visual/actions.py) within runs
    of face frames; None when no frame has action scores."""
    changes, seen = 0, False
    for run in face_runs(series):
        cols = {k: [series[k][i] for i in run] for k in actions.SERIES_KEY.values() if k in series}
        if len(cols) < len(actions.SERIES_KEY):
            return None
        states = [actions.frame_state({k: v[j] for k, v in cols.items()}) for j in range(len(run))]
        states = [x for x in states if x is not None]
        seen = seen or bool(states)
        changes += actions.state_changes(states, dwell_frames(step))
    return changes if seen else None
