"""Speech made with espeak-ng, and clips built from it, for the audio stage tests."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from daemon.audio.resample import to_rate
from tests.support.media_factory import make_audio_only

requires_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")

ENGINEER = (
    "I have been working as an engineer for ten years, and I really enjoy solving hard "
    "problems together with my team."
)
QUESTION = "That sounds wonderful. What kind of problems do you usually work on during the week?"


def espeak(
    text: str, tmp: Path, voice: str = "en", pitch: int = 50, speed: int = 160
) -> np.ndarray:
    """`text` spoken by espeak-ng, as float32 samples at 16 kHz."""
    out = tmp / f"espeak_{abs(hash((text, voice, pitch, speed)))}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(out), text],
        check=True,
        capture_output=True,
    )
    with wave.open(str(out), "rb") as src:
        rate = src.getframerate()
        pcm = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    return to_rate(pcm.astype(np.float32) / 32768.0, rate, 16000)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16000), dtype=np.float32)


def clip(path: Path, *parts: np.ndarray) -> Path:
    """An AAC-in-MP4 audio-only clip of the parts played one after the other."""
    return make_audio_only(path, np.concatenate(parts))
