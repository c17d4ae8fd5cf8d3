"""Decode a video's frames at a fixed sampling rate with PyAV, one frame at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from daemon.errors import PermanentError
from daemon.media import CORRUPT_HINT, _open, display_rotation, upright


@dataclass(frozen=True)
class SampledFrame:
    """One sampled frame: its time in seconds and an RGB image (downscaled)."""

    index: int
    t: float
    rgb: np.ndarray  # (height, width, 3) uint8


def scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) with the longer side at most `max_side`, both even, aspect kept."""
    scale = min(1.0, max_side / max(width, height))
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def _frame_time(frame, stream, fallback: float) -> float:  # av types
    if frame.pts is not None and stream.time_base:
        return float(frame.pts * Fraction(stream.time_base))
    return fallback


def iter_frames(
    path: Path,
    sample_fps: float,
    max_side: int,
    should_stop: Callable[[], bool] = lambda: False,
    convert: bool = True,
) -> Iterator[SampledFrame]:
    """Yield frames of the first video stream at about `sample_fps`, downscaled to `max_side`.

    Every frame is decoded (the codec needs them), but only the sampled ones are
    scaled, converted and turned upright by their display rotation, and only one is held
    at a time. A video slower than
    `sample_fps` yields every frame. With `convert=False` the frame is not converted
    (rgb is an empty array): the decode-only reference of the benchmark.
    """
    import av

    step = 1.0 / sample_fps
    with _open(path) as container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start: float | None = None
        next_t = 0.0
        count = 0
        try:
            for n, frame in enumerate(container.decode(stream)):
                t = _frame_time(frame, stream, n * step)
                start = t if start is None else start
                t -= start
                if t + 1e-6 < next_t:
                    continue
                # Jump ahead on the sampling grid, so a gap in the video does not yield a burst.
                next_t = (int(t / step + 1e-6) + 1) * step
                if convert:
                    w, h = scaled_size(frame.width, frame.height, max_side)
                    rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
                    # As a player shows it: a phone's portrait video is stored on its side.
                    rgb = upright(rgb, display_rotation(frame))
                else:
                    rgb = np.zeros((0, 0, 3), dtype=np.uint8)
                yield SampledFrame(count, round(t, 3), rgb)
                count += 1
                if should_stop():
                    return
        except av.error.FFmpegError as exc:
            if count == 0:
                raise PermanentError(
                    f"the video stream does not decode ({exc}): {CORRUPT_HINT}"
                ) from exc
            # A truncated tail: keep what decoded; the caller records the frame count.
