"""Container probing and audio decoding with PyAV (bundled FFmpeg, no shell, no ffmpeg binary)."""

from __future__ import annotations

import logging
import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import PermanentError
from daemon.logtext import one_line

log = logging.getLogger("lprd.media")

# A file whose streams end this much before its declared duration is truncated.
TRUNCATION_TOLERANCE_S = 0.5
TRUNCATION_TOLERANCE = 0.02  # of the declared duration
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


def display_rotation(frame: Any) -> int:
    """How far a player turns the decoded picture counterclockwise to show it (0, 90, 180
    or 270 degrees), from the frame's display matrix (a phone's "rotate" tag)."""
    angle = getattr(frame, "rotation", 0) or 0
    return int(round(float(angle) / 90.0)) % 4 * 90


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """The picture as a player shows it: `rgb` turned `rotation` degrees counterclockwise."""
    k = rotation // 90 % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def _video_rotation(path: Path) -> int:
    """The display rotation of the first video frame (0 when it has none or none decodes)."""
    import av

    try:
        with _open(path) as container:
            for frame in container.decode(container.streams.video[0]):
                return display_rotation(frame)
    except (av.error.FFmpegError, IndexError):
        return 0
    return 0


def _first_frame_decodes(path: Path, kind: str) -> str | None:
    """None if a frame of the first `kind` ("video" or "audio") stream decodes, else the
    reason it does not. A fresh container each time: no seek, which some containers
    (classic FLV) refuse."""
    import av

    try:
        with _open(path) as container:
            stream = getattr(container.streams, kind)[0]
            for _frame in container.decode(stream):
                return None
        return "the stream holds no frames"
    except av.error.FFmpegError as exc:
        return f"decoding failed ({exc})"


def _stream_ends(path: Path) -> dict[int, float]:
    """Where each stream's packets really end (seconds from its start), read by demuxing
    the whole file without decoding: a truncated file ends before its header says."""
    import av

    ends: dict[int, float] = {}
    try:
        with _open(path) as container:
            for packet in container.demux():
                stream = packet.stream
                if packet.pts is None or not stream.time_base:
                    continue
                start = stream.start_time or 0
                end = float((packet.pts - start + (packet.duration or 0)) * stream.time_base)
                ends[stream.index] = max(ends.get(stream.index, 0.0), end)
    except av.error.FFmpegError:
        pass  # broke off: what was read so far is what there is
    return ends


def _truncation(info: dict[str, Any], ends: dict[int, float], indexes: dict[str, int]) -> None:
    """Record the real length when the streams end well before the declared duration."""
    declared = info["duration_s"]
    real = {kind: ends.get(index) for kind, index in indexes.items() if info.get(kind)}
    real = {kind: end for kind, end in real.items() if end is not None}
    if not declared or not real:
        return
    longest = max(real.values())
    if declared - longest <= max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE * declared):
        return
    for kind, end in real.items():
        info[kind]["duration_s"] = round(end, 3)
    if info["video"]:
        info["video"]["frames"] = None  # the header's count, not what is there
    info["declared_duration_s"] = declared
    info["duration_s"] = round(longest, 3)
    info["truncated"] = True
    info["warnings"].append(
        f"truncated: the container declares {declared:.1f} s but its streams end at "
        f"{longest:.1f} s; only those {longest:.1f} s are analysed (re-copy the file for "
        "the rest)"
    )


def _stream_info(container: Any, kind: str, stream: Any) -> dict[str, Any]:
    """What probe records of a stream that decodes."""
    ctx = stream.codec_context
    if kind == "video":
        return {
            "codec": ctx.name,
            "width": ctx.width,
            "height": ctx.height,
            "fps": _fps(stream),
            "frames": stream.frames or None,
            "duration_s": _duration(container, stream),
        }
    return {
        "codec": ctx.name,
        "sample_rate": ctx.sample_rate,
        "channels": ctx.channels,
        "duration_s": _duration(container, stream),
    }


def probe(path: Path) -> dict[str, Any]:
    """Container, streams, duration, frame rate and resolution of a media file.

    The duration is what the streams really hold: a file truncated after its header
    records the decodable length, `declared_duration_s` and a warning. Raises
    PermanentError if the file cannot be opened or has no decodable stream.
    """
    with _open(path) as container:
        streams = {
            kind: getattr(container.streams, kind)[0]
            for kind in ("video", "audio")
            if getattr(container.streams, kind)
        }
        info: dict[str, Any] = {
            "container": container.format.name,
            "size_bytes": path.stat().st_size,
            "duration_s": _duration(container, streams.get("video") or streams.get("audio")),
            "video": None,
            "audio": None,
            "problems": [],
            "warnings": [],
        }
        for kind, stream in streams.items():
            problem = _first_frame_decodes(path, kind)
            if problem:
                info["problems"].append(f"{kind} stream: {problem}")
            else:
                info[kind] = _stream_info(container, kind, stream)
        indexes = {kind: stream.index for kind, stream in streams.items()}
    if info["video"] is not None:
        _apply_rotation(info["video"], _video_rotation(path))
    if info["video"] is None and info["audio"] is None:
        found = "; ".join(info["problems"]) or "the container holds no video or audio stream"
        raise PermanentError(f"no decodable video or audio stream ({found}): {CORRUPT_HINT}")
    _truncation(info, _stream_ends(path), indexes)
    return info


def _apply_rotation(video: dict[str, Any], rotation: int) -> None:
    """Record the display rotation; width and height become the picture as shown (the
    coded ones are kept when a quarter turn swaps them)."""
    video["rotation"] = rotation
    if rotation in (90, 270):
        video["coded_width"], video["coded_height"] = video["width"], video["height"]
        video["width"], video["height"] = video["coded_height"], video["coded_width"]


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
        decoded = 0
        try:
            for frame in container.decode(stream):
                decoded += 1
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                if should_stop():
                    return
        except av.error.FFmpegError as exc:
            if not decoded:
                raise PermanentError(
                    f"the audio track breaks off while decoding ({exc}): {CORRUPT_HINT}"
                ) from exc
            # A truncated tail (probe records the real length): keep what decoded.
            log.warning(
                "%s: the audio track breaks off after %d frames: %s",
                one_line(path),
                decoded,
                one_line(exc),
            )
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)


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
