"""A two-person "interview" built from two real clips: one face on camera, one voice off it.

The picture always shows the face clip's person. In the face's stretches the picture and
the sound are the face clip's own, in step, so its lips move with its voice. In the other
stretches the sound is the other clip's voice (an interviewer off camera) and the picture
one frozen frame of the face (a listening face whose mouth does not move).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.long_video import AUDIO_RATE, _audio, _frames_at_rate
from tests.support.media_factory import make_video

FACE, OTHER = "face", "other"


@dataclass(frozen=True)
class Stretch:
    """Who is heard from `start` for `length` seconds: FACE or OTHER."""

    who: str
    start: float
    length: float


def build_dialogue(
    face_clip: Path,
    other_clip: Path,
    lengths: list[tuple[str, float]],
    out: Path,
    size: tuple[int, int] = (480, 270),
    fps: int = 15,
) -> list[Stretch]:
    """Write `out` from (who, seconds) stretches; each takes the next seconds of its clip."""
    faces = _frames_at_rate(face_clip, fps, size)
    still = faces[0]
    voices = {FACE: _audio(face_clip), OTHER: _audio(other_clip)}
    used = {FACE: 0.0, OTHER: 0.0}
    frames: list[np.ndarray] = []
    sound: list[np.ndarray] = []
    placed: list[Stretch] = []
    for who, seconds in lengths:
        n = int(round(seconds * fps))
        first = int(round(used[who] * fps))
        frames += faces[first : first + n] if who == FACE else [still] * n
        a = int(round(used[who] * AUDIO_RATE))
        sound.append(voices[who][a : a + int(round(n / fps * AUDIO_RATE))])
        placed.append(Stretch(who, len(frames) / fps - n / fps, n / fps))
        used[who] += n / fps
    audio = np.concatenate(sound).astype(np.float32)
    make_video(out, len(frames) / fps, fps, size, lambda i, h, w: frames[i], audio, AUDIO_RATE)
    return placed


def heard_most(turns: list[dict], placed: list[Stretch], who: str) -> str:
    """The diarized speaker whose turns overlap `who`'s stretches the most."""
    overlap: dict[str, float] = {}
    for turn in turns:
        for s in placed:
            if s.who == who:
                seconds = min(turn["end"], s.start + s.length) - max(turn["start"], s.start)
                overlap[turn["speaker"]] = overlap.get(turn["speaker"], 0.0) + max(0.0, seconds)
    return max(overlap, key=overlap.__getitem__)
