"""Per-clip checks: measures that cannot be trusted on a clip are withheld, with the reason."""

from __future__ import annotations

import numpy as np

from daemon.config import VisualConfig
from daemon.visual import nods
from daemon.visual.analyze import FrameLog
from daemon.visual.events import blink_count, ear_blink_count, values

MIN_BLINK_FACE_PX = 60  # below this face width the eyelids span too few pixels
MIN_OPEN_EAR = 0.1  # a median eye aspect ratio under this: eyes not resolved (squint, glasses)
MIN_NOD_FPS = 4.0  # a nod's down-up cycle (0.3-1 s) needs a few frames
MAX_NOD_NOISE_DEG = 3.0  # pose jitter above this hides nods of a few degrees


def blink_check(log: FrameLog, cfg: VisualConfig) -> str | None:
    """Why the blink count of this clip cannot be trusted, or None when it can: the face is
    too small, the eyes are barely open in the landmarks, or the blendshape count and the
    eye-aspect-ratio count disagree."""
    series = log.series
    widths = values(series, "face_width_share") * (log.frame_size or (0, 0))[0]
    if widths.size and float(np.median(widths)) < MIN_BLINK_FACE_PX:
        return f"the face is {np.median(widths):.0f} px wide; blinks need {MIN_BLINK_FACE_PX}"
    ear = values(series, "ear") if "ear" in series else np.array([])
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


def nod_check(log: FrameLog, cfg: VisualConfig) -> str | None:
    """Why nods cannot be counted on this clip, or None."""
    series = log.series
    if cfg.sample_fps < MIN_NOD_FPS:
        return (
            f"{cfg.sample_fps:g} frames per second cannot resolve a nod; it needs {MIN_NOD_FPS:g}"
        )
    pitch = values(series, "pitch")
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
