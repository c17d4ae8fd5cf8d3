"""Synthetic head-pose tracks with known nods, for the nod detector's tests and bench/validity.py.

A track is what analyze_face samples (5 frames per second by default): slow posture drift,
tremor (white pose jitter), talking motion (1-3 Hz head bobbing of about a degree, which
5 fps sampling aliases into noise), head turns (yaw swings with a little pitch), a long
look down (a pitch step that does not come back quickly) and nods: raised-cosine dips of
6-14 degrees lasting 0.5-1.0 s. Only the dips are nods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_S = 0.5  # a detected nod matches a true one this close in time


@dataclass
class PoseTrack:
    t: np.ndarray
    pitch: np.ndarray
    yaw: np.ndarray
    nods: list[float]  # true nod centres (s)


def _dip(t: np.ndarray, centre: float, depth: float, duration: float) -> np.ndarray:
    x = (t - centre) / duration
    return np.where(np.abs(x) < 0.5, -depth * 0.5 * (1.0 + np.cos(2.0 * np.pi * x)), 0.0)


def _event_times(rng: np.random.Generator, seconds: float, gap: float, n: int) -> list[float]:
    times: list[float] = []
    for _ in range(n * 20):
        c = float(rng.uniform(1.5, seconds - 1.5))
        if all(abs(c - x) >= gap for x in times):
            times.append(c)
        if len(times) == n:
            break
    return sorted(times)


def make_track(
    seed: int, fps: float = 5.0, seconds: float = 60.0, nods: int = 12, talking: float = 1.0
) -> PoseTrack:
    """One track with `nods` nods among drift, tremor, talking motion, turns and a look down."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, 1.0 / fps)
    pitch = 3.0 * np.sin(2 * np.pi * 0.07 * t + rng.uniform(0, 6.3))
    yaw = 5.0 * np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 6.3))
    pitch += rng.normal(0.0, 0.3, t.size)  # tremor and landmark jitter
    yaw += rng.normal(0.0, 0.3, t.size)
    for freq in rng.uniform(1.0, 3.0, 4):  # talking motion
        pitch += talking * 0.7 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3))
    events = _event_times(rng, seconds, 2.5, nods + 3)
    rng.shuffle(events)
    nod_at, turns_at, down_at = sorted(events[:nods]), events[nods : nods + 2], events[nods + 2 :]
    for c in nod_at:
        pitch += _dip(t, c, rng.uniform(6.0, 14.0), rng.uniform(0.5, 1.0))
    for c in turns_at:  # a look aside and back: 25 degrees of yaw, 2 of pitch
        yaw += -_dip(t, c, 25.0, 1.2)
        pitch += _dip(t, c, 2.0, 1.2)
    for c in down_at:  # looks down for 3 s
        pitch += np.where((t > c) & (t < c + 3.0), -10.0, 0.0)
    return PoseTrack(t, pitch, yaw, nod_at)


def match(true: list[float], found: list[float]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) matching within MATCH_S."""
    left = list(true)
    hits = 0
    for f in found:
        near = [x for x in left if abs(x - f) <= MATCH_S]
        if near:
            left.remove(min(near, key=lambda x: abs(x - f)))
            hits += 1
    return hits, len(found) - hits, len(left)
