"""Container probing and audio decoding with PyAV (bundled FFmpeg, no shell, no ffmpeg binary)."""

from __future__ import annotations

import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import PermanentError

CORRUPT_HINT = (
    "the file is corrupt, truncated or not a video; re-export or re-copy it into the inbox "
    "(the new copy is a new video), or `lprd forget` this one"
)


def _open(path: Path):  # av is imported lazily
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise PermanentError(f"cannot read the container ({exc}): {CORRUPT_HINT}") from exc


def _fps(stream: Any) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _duration(container: Any, stream: Any) -> float | None:
    if stream is not None and stream.duration is not None and stream.time_base:
        return float(stream.duration * Fraction(stream.time_base))
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _first_frame_decodes(container: Any, stream: Any) -> str | None:
    """None if a frame of the stream decodes, else the reason it does not."""
    import av

    try:
        container.seek(0)
        for _frame in container.decode(stream):
            return None
        return "the stream holds no frames"
    except av.error.FFmpegError as exc:
        return f"decoding failed ({exc})"


def probe(path: Path) -> dict[str, Any]:
    """Container, streams, duration, frame rate and resolution of a media file.

    Raises PermanentError if the file cannot be opened or has no decodable stream.
    """
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        info: dict[str, Any] = {
            "container": container.format.name,
            "size_bytes": path.stat().st_size,
            "duration_s": _duration(container, video or audio),
            "video": None,
            "audio": None,
            "problems": [],
        }
        if video is not None:
            problem = _first_frame_decodes(container, video)
            if problem:
                info["problems"].append(f"video stream: {problem}")
            else:
                info["video"] = {
                    "codec": video.codec_context.name,
                    "width": video.codec_context.width,
                    "height": video.codec_context.height,
                    "fps": _fps(video),
                    "frames": video.frames or None,
                    "duration_s": _duration(container, video),
                }
        if audio is not None:
            problem = _first_frame_decodes(container, audio)
            if problem:
                info["problems"].append(f"audio stream: {problem}")
            else:
                info["audio"] = {
                    "codec": audio.codec_context.name,
                    "sample_rate": audio.codec_context.sample_rate,
                    "channels": audio.codec_context.channels,
                    "duration_s": _duration(container, audio),
                }
    if info["video"] is None and info["audio"] is None:
        found = "; ".join(info["problems"]) or "the container holds no video or audio stream"
        raise PermanentError(f"no decodable video or audio stream ({found}): {CORRUPT_HINT}")
    return info


def iter_audio(
    path: Path, sample_rate: int, should_stop: Callable[[], bool] = lambda: False
) -> Iterator[np.ndarray]:
    """Yield the first audio stream as float32 mono chunks at `sample_rate`."""
    import av

    with _open(path) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                if should_stop():
                    return
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        except av.error.FFmpegError as exc:
            raise PermanentError(
                f"the audio track breaks off while decoding ({exc}): {CORRUPT_HINT}"
            ) from exc


def decode_audio(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """The whole first audio stream as float32 mono samples in [-1, 1]."""
    chunks = list(iter_audio(path, sample_rate))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write float samples in [-1, 1] as 16-bit PCM mono WAV."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM mono WAV written by `write_wav` as float32 samples and its rate."""
    with wave.open(str(path), "rb") as src:
        rate = src.getframerate()
        data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0, rate
