"""FACS-style facial actions from MediaPipe's blendshapes, and the expression state over time.

Each action is the mean of the blendshapes that move the same muscles as a FACS action
unit (Ekman & Friesen, Facial Action Coding System, 1978; the blendshapes are ARKit's,
whose documentation names the movement each one stands for). An action is "on" in a frame
when its score reaches the action's threshold (set from the scores' distribution on real
interview clips: clearly visible movements, not the resting face).

The expression state of a frame is its strongest action that is on (score over threshold),
or "neutral". A state counts only once it has held for MIN_DWELL_S: a shorter episode is
a flicker of the measurement or of speech articulation and belongs to the state around it.
Expression changes are the changes between such held states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NEUTRAL = "neutral"
MIN_DWELL_S = 0.8  # facial displays last about 0.5-4 s (Ekman 1993); shorter is flicker


@dataclass(frozen=True)
class Action:
    name: str
    facs: str
    blendshapes: tuple[str, ...]
    threshold: float


ACTIONS = (
    Action("smile", "AU12", ("mouthSmileLeft", "mouthSmileRight"), 0.5),
    Action("brow raise", "AU1+2", ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"), 0.5),
    Action("brow lowering", "AU4", ("browDownLeft", "browDownRight"), 0.3),
    Action("lip press", "AU24", ("mouthPressLeft", "mouthPressRight"), 0.15),
    Action("jaw drop", "AU26", ("jawOpen",), 0.3),
)
SERIES_KEY = {a.name: "au_" + a.name.replace(" ", "_") for a in ACTIONS}


def action_scores(shapes: dict[str, float]) -> dict[str, float]:
    """Each action's score (0..1) in one frame's blendshapes, keyed by series column."""
    return {
        SERIES_KEY[a.name]: float(np.mean([shapes.get(n, 0.0) for n in a.blendshapes]))
        for a in ACTIONS
    }


def frame_state(scores: dict[str, float | None]) -> str | None:
    """The strongest action over its threshold (relative to it), 'neutral', or None when
    the frame has no scores."""
    best, best_ratio = NEUTRAL, 1.0
    for a in ACTIONS:
        value = scores.get(SERIES_KEY[a.name])
        if value is None:
            return None
        if value / a.threshold >= best_ratio:
            best, best_ratio = a.name, value / a.threshold
    return best


def held_states(states: Sequence[str], min_frames: int) -> list[str]:
    """The states with episodes shorter than `min_frames` absorbed by the held state before
    them (or after them, at the start)."""
    runs: list[list] = []  # [state, length]
    for s in states:
        if runs and runs[-1][0] == s:
            runs[-1][1] += 1
        else:
            runs.append([s, 1])
    out: list[str] = []
    held: str | None = next((s for s, n in runs if n >= min_frames), None)
    for s, n in runs:
        if n >= min_frames or held is None:
            held = s
        out.extend([held] * n)
    return out


def state_changes(states: Sequence[str], min_frames: int) -> int:
    """Changes between held states."""
    held = held_states(states, min_frames)
    return sum(1 for a, b in zip(held, held[1:], strict=False) if a != b)


def shares(columns: dict[str, Sequence[float | None]]) -> dict[str, float]:
    """Share of face frames in which each action is on."""
    out = {}
    for a in ACTIONS:
        values = np.array([v for v in columns[SERIES_KEY[a.name]] if v is not None], dtype=float)
        if values.size:
            out[a.name] = round(float((values >= a.threshold).mean()), 4)
    return out
