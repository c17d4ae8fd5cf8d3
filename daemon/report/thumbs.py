"""Small JPEG thumbnails of the subject's face, decoded with PyAV and inlined as data URIs.

The crop is the face box analyze_face recorded for the sampled frame nearest each chosen
time; without boxes (older outputs, no face) the whole frame is shown and the report says so.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from daemon.media import display_rotation, upright

THUMB_SIDE = 112
GROW = 1.5  # show some hair and chin around the landmark box


@dataclass(frozen=True)
class Thumb:
    """One thumbnail: the time it shows, whether it is a face crop, and the image."""

    t: float
    face: bool
    src: str  # data:image/jpeg;base64,...


def pick_times(
    face: dict[str, Any] | None, duration: float, count: int
) -> list[tuple[float, list]]:
    """`count` (time, normalised face box or []) pairs spread over the video."""
    series = (face or {}).get("series") or {}
    boxed = [
        (t, b) for t, b in zip(series.get("t", []), series.get("face_box", []), strict=False) if b
    ]
    if boxed:
        n = min(count, len(boxed))
        idx = ((np.arange(n) + 0.5) * len(boxed) / n).astype(int)  # inner frames, not the ends
        return [boxed[i] for i in idx.tolist()]
    return [(duration * (i + 0.5) / count, []) for i in range(count)]


def _crop(rgb: np.ndarray, box: list[float]) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    half = max((x1 - x0) * w, (y1 - y0) * h) * GROW / 2
    left, top = int(max(0, cx - half)), int(max(0, cy - half))
    right, bottom = int(min(w, cx + half)), int(min(h, cy + half))
    crop = rgb[top:bottom, left:right]
    return crop if crop.size else rgb


def _jpeg(rgb: np.ndarray) -> str:
    h, w = rgb.shape[:2]
    scale = THUMB_SIDE / max(h, w)
    width, height = max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame = frame.reformat(width=width, height=height, format="yuvj420p")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    data = b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def _frame_at(container: av.container.InputContainer, t: float) -> np.ndarray | None:
    stream = container.streams.video[0]
    container.seek(int(max(0.0, t - 0.5) / stream.time_base), stream=stream, backward=True)
    for frame in container.decode(stream):
        if frame.time is not None and frame.time >= t - 1e-3:
            return upright(frame.to_ndarray(format="rgb24"), display_rotation(frame))
    return None


def thumbnails(
    path: Path, face: dict[str, Any] | None, duration: float, count: int = 4
) -> list[Thumb]:
    """Face-crop thumbnails of the video at `path`; [] if it cannot be decoded."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return []
            thumbs = []
            for t, box in pick_times(face, duration, count):
                rgb = _frame_at(container, t)
                if rgb is not None:
                    thumbs.append(
                        Thumb(round(t, 2), bool(box), _jpeg(_crop(rgb, box) if box else rgb))
                    )
            return thumbs
    except (av.error.FFmpegError, OSError, ValueError):
        return []
