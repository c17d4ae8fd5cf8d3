"""Audio samples as the audio stages analyse them, plus the checks that decide whether
they are usable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daemon import media
from daemon.errors import PermanentError, StageSkipped

# Samples within 1 dB of full scale count as clipped: a lossy codec turns the flat tops of
# clipped audio into ringing around full scale, so exact full-scale counting misses them,
# while speech (crest factor 15-20 dB) almost never comes this close.
CLIP_LEVEL = 0.89
SILENCE_DBFS = -60.0


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] and their rate."""

    samples: np.ndarray
    rate: int

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.rate

    def cut(self, start: float, end: float) -> np.ndarray:
        """The samples between two times in seconds."""
        a, b = int(round(start * self.rate)), int(round(end * self.rate))
        return self.samples[max(0, a) : max(0, b)]


def clipped_share(samples: np.ndarray) -> float:
    """Share of samples within 1 dB of full scale."""
    if samples.size == 0:
        return 0.0
    return float(np.mean(np.abs(samples) >= CLIP_LEVEL))


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (-120 for digital silence)."""
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 1e-6 else -120.0


def read_audio(path: Path) -> Audio:
    """A mono wav file's samples and rate."""
    samples, rate = media.read_wav(path)
    return Audio(samples, rate)


def check_usable(audio: Audio, min_audio_s: float, clipping_fail_share: float) -> None:
    """Skip audio that is too short or silent; fail audio that is clipped beyond use."""
    if audio.duration_s < min_audio_s:
        raise StageSkipped(
            f"the audio is only {audio.duration_s:.2f} s long, too short to analyse "
            f"(minimum {min_audio_s:g} s)"
        )
    level = rms_dbfs(audio.samples)
    if level < SILENCE_DBFS:
        raise StageSkipped(f"no speech was detected: the audio is silent (RMS {level:.1f} dBFS)")
    share = clipped_share(audio.samples)
    if share >= clipping_fail_share:
        raise PermanentError(
            f"the audio is clipped: {share:.0%} of its samples sit within 1 dB of full scale, so voice "
            "measures would be meaningless; re-record or re-export it at a lower gain"
        )
