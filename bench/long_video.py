"""A long interview-like video made of the shared First Impressions clips, one after the
other (each clip a different person), and the truth about who speaks where.

Clips differ in size, frame rate and audio layout, so each is decoded and written again
at one size (letterboxed, never stretched), one frame rate and 16 kHz mono AAC. Frames
and audio are streamed clip by clip: memory does not grow with the video's length.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 16000


@dataclass(frozen=True)
class Placed:
    """One clip inside the long video: where it starts and how long it lasts there."""

    clip: Path
    start: float
    length: float

    @property
    def speaker(self) -> str:
        """The clip's person (one per First Impressions clip)."""
        return self.clip.name.removesuffix(".mp4")


def build_long_video(
    clips: list[Path],
    seconds: float,
    out: Path,
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
) -> list[Placed]:
    """Write `out`, at least `seconds` long, cycling through `clips`; return the placement."""
    width, height = size
    placed: list[Placed] = []
    frames_done = 0
    with av.open(str(out), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "mono"
        for clip in itertools.cycle(clips):
            if frames_done / fps >= seconds:
                break
            n = _write_clip(container, video, audio, clip, frames_done, fps, size)
            placed.append(Placed(clip, frames_done / fps, n / fps))
            frames_done += n
        for stream in (video, audio):
            for packet in stream.encode():
                container.mux(packet)
    return placed


def _write_clip(container, video, audio, clip: Path, first: int, fps: int, size) -> int:
    """Append one clip; returns the number of frames written (its audio is cut or padded
    to exactly that length, so picture and sound stay in step)."""
    frames = _frames_at_rate(clip, fps, size)
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = first + i
        frame.time_base = Fraction(1, fps)
        for packet in video.encode(frame):
            container.mux(packet)
    n = len(frames)
    samples = _audio(clip)
    want = int(round(n / fps * AUDIO_RATE))
    samples = np.pad(samples[:want], (0, max(0, want - len(samples))))
    offset = int(round(first / fps * AUDIO_RATE))
    for start in range(0, want, 1024):
        block = samples[start : start + 1024].astype(np.float32).reshape(1, -1)
        af = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
        af.sample_rate, af.pts, af.time_base = AUDIO_RATE, offset + start, Fraction(1, AUDIO_RATE)
        for packet in audio.encode(af):
            container.mux(packet)
    return n


def _frames_at_rate(clip: Path, fps: int, size: tuple[int, int]) -> list[np.ndarray]:
    """The clip's frames resampled to `fps` by timestamp and letterboxed to `size`."""
    out: list[np.ndarray] = []
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time) if frame.time is not None else len(out) / fps
            while len(out) <= t * fps:
                out.append(_letterbox(frame, size))
    return out


def _letterbox(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    scale = min(width / frame.width, height / frame.height)
    w, h = max(2, int(frame.width * scale) // 2 * 2), max(2, int(frame.height * scale) // 2 * 2)
    rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - h) // 2, (width - w) // 2
    canvas[top : top + h, left : left + w] = rgb
    return canvas


def _audio(clip: Path) -> np.ndarray:
    from daemon import media

    return media.decode_audio(clip, AUDIO_RATE)


def reference_speech(placed: list[Placed], models, vad_threshold: float) -> list[tuple]:
    """(start, end, speaker) of every speech region, found by the daemon's voice activity
    detector in each clip alone (bench/diarization.py's `load_parts`) and shifted to where
    the clip sits in the long video."""
    from bench.diarization import load_parts

    clips = list(dict.fromkeys(item.clip for item in placed))
    parts = load_parts(clips, models, vad_threshold)
    speech = {clip: part.speech for clip, part in zip(clips, parts, strict=True)}
    return [
        (item.start + a, item.start + min(b, item.length), item.speaker)
        for item in placed
        for a, b in speech[item.clip]
        if a < item.length
    ]
