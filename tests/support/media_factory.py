"""Real media files made with PyAV for tests: video with or without audio, audio only."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

Frame = Callable[[int, int, int], np.ndarray]  # (index, height, width) -> RGB uint8


def moving_square(index: int, height: int, width: int) -> np.ndarray:
    """A grey frame with a white square that moves: cheap, deterministic content."""
    img = np.full((height, width, 3), 64, dtype=np.uint8)
    x = (index * 4) % max(1, width - 32)
    img[height // 3 : height // 3 + 32, x : x + 32] = 255
    return img


def black(index: int, height: int, width: int) -> np.ndarray:
    return np.zeros((height, width, 3), dtype=np.uint8)


def tone(seconds: float, rate: int = 16000, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    """A sine tone as float32 samples."""
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_video(
    path: Path,
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    frame: Frame = moving_square,
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
) -> Path:
    """Write an H.264 (or MPEG-4) video, with an AAC track when `audio` is given."""
    width, height = size
    with av.open(str(path), "w") as out:
        vstream = out.add_stream(
            "libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps
        )
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        astream = None
        if audio is not None:
            astream = out.add_stream("aac", rate=audio_rate)
            astream.layout = "mono"
        for i in range(int(seconds * fps)):
            vf = av.VideoFrame.from_ndarray(frame(i, height, width), format="rgb24")
            for packet in vstream.encode(vf):
                out.mux(packet)
        for packet in vstream.encode():
            out.mux(packet)
        if astream is not None:
            _write_audio(out, astream, audio, audio_rate)
    return path


def make_audio_only(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """Write an AAC-in-MP4 (or any container by suffix) file with no video stream."""
    with av.open(str(path), "w") as out:
        astream = out.add_stream("aac", rate=rate)
        astream.layout = "mono"
        _write_audio(out, astream, samples, rate)
    return path


def _write_audio(out, stream, samples: np.ndarray, rate: int) -> None:
    chunk = 1024
    for start in range(0, len(samples), chunk):
        block = samples[start : start + chunk].astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
