"""Head nods from a head-pitch track: down-up cycles that stand out from the clip's own
pose noise and last as long as a nod does.

A nod is the head dipping and coming back up: a peak, a trough and a peak of the pitch
angle, where both the fall and the rise exceed the amplitude threshold, the head does not
turn sideways by more than it dips, and the dip (the time spent below half its depth) lasts
no longer than a nod. Conversational nods are 0.3-1 s per down-up cycle with amplitudes
of a few to about 15 degrees (Hadar, Steiner, Grant & Rose, "Head movement correlates of
juncture and stress at sentence level", Language and Speech 26, 1983; Wittenburg et al.
report 2-4 Hz for repeated nods). The amplitude threshold is the larger of a fixed floor
(`nod_min_deg`) and a multiple of the clip's pose noise, so a jittery track (a small face,
a compressed video, talking motion) needs a bigger swing to count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NOISE_FACTOR = 4.0  # a swing counts when it exceeds this many noise SDs (and the floor)
MAX_CYCLE_S = 1.6  # from leaving the upper level to coming back to it
MAX_YAW_SHARE = 1.0  # sideways turn during the cycle at most this share of the dip's depth


def pose_noise(values: Sequence[float]) -> float:
    """Robust SD of frame-to-frame jitter: 1.4826 x MAD of the first differences over sqrt 2
    (the median ignores the few large steps that real movements make)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 3:
        return 0.0
    d = np.diff(v)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def turning_points(values: Sequence[float], amplitude: float) -> list[int]:
    """Indices of alternating peaks and troughs, each differing from the last by at least
    `amplitude` (a zig-zag filter: smaller wiggles do not make a turn)."""
    v = np.asarray(values, dtype=np.float64)
    points: list[int] = []
    hi = lo = ext = 0
    direction = 0  # +1 rising towards a peak, -1 falling towards a trough, 0 not yet known
    for i in range(1, v.size):
        if direction == 0:
            hi = i if v[i] > v[hi] else hi
            lo = i if v[i] < v[lo] else lo
            if v[hi] - v[lo] >= amplitude:
                first, ext = (hi, lo) if hi < lo else (lo, hi)
                points.append(first)
                direction = -1 if hi < lo else 1
        elif direction * (v[i] - v[ext]) >= 0:
            ext = i  # the swing goes on
        elif direction * (v[ext] - v[i]) >= amplitude:
            points.append(ext)
            direction, ext = -direction, i
    if direction:
        points.append(ext)
    return points


def _is_nod(p: np.ndarray, t: np.ndarray, yaw: np.ndarray | None, b: int, amplitude: float) -> bool:
    """Whether the trough at `b` is a nod: the head falls into it and rises out of it by
    `amplitude` within MAX_CYCLE_S, without turning sideways by more than it dips."""
    up = p >= p[b] + amplitude
    before, after = np.flatnonzero(up[:b]), np.flatnonzero(up[b + 1 :])
    if not before.size or not after.size:
        return False
    a, c = int(before[-1]), b + 1 + int(after[0])
    if t[c] - t[a] > MAX_CYCLE_S:
        return False
    depth = min(p[a], p[c]) - p[b]
    return yaw is None or float(np.ptp(yaw[a : c + 1])) <= MAX_YAW_SHARE * depth


def nod_times(
    t: Sequence[float],
    pitch: Sequence[float],
    min_deg: float,
    yaw: Sequence[float] | None = None,
) -> list[float]:
    """Times (s) of the troughs of the nods in one continuous pitch track (pitch > 0 is
    the head tilted up). `yaw`, when given, rejects cycles that are head turns."""
    tt, p = np.asarray(t, dtype=np.float64), np.asarray(pitch, dtype=np.float64)
    y = None if yaw is None else np.asarray(yaw, dtype=np.float64)
    amplitude = max(min_deg, NOISE_FACTOR * pose_noise(p))
    points = turning_points(p, amplitude)
    troughs = [b for a, b in zip(points, points[1:], strict=False) if p[b] < p[a]]
    return [round(float(tt[b]), 2) for b in troughs if _is_nod(p, tt, y, b, amplitude)]
