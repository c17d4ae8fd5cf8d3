"""Prosody detectors on synthetic signals with known answers: pitch and pauses."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.audio import prosody_features as pf

RATE = 16000


def _voice(f0_track: np.ndarray) -> np.ndarray:
    """A harmonic 'voice' (10 harmonics, falling 1/k) following an F0 track per sample."""
    phase = 2 * np.pi * np.cumsum(f0_track) / RATE
    return sum(np.sin(k * phase) / k for k in range(1, 11)).astype(np.float32) * 0.1


def test_pitch_of_a_voice_with_known_f0_and_vibrato() -> None:
    t = np.arange(0, 4.0, 1 / RATE)
    semitones = 2.0 * np.sin(2 * np.pi * 0.5 * t)  # +-2 st around 150 Hz: SD 2/sqrt(2)
    out = pf.pitch(_voice(150.0 * 2 ** (semitones / 12)), RATE, [(0.0, 4.0)])
    assert out["pitch_mean_hz"] == pytest.approx(150.0 * 1.0, rel=0.03)
    assert out["pitch_sd_semitones"] == pytest.approx(2 / np.sqrt(2), abs=0.15)
    assert out["pitch_range_semitones"] == pytest.approx(3.9, abs=0.3)
    lo, hi = out["range_hz"]
    assert lo < 130 and hi > 170  # the second pass searches around the speaker's own F0


def test_pauses_are_gaps_between_the_subject_s_speech_no_one_else_fills() -> None:
    spans = [(0.0, 1.0), (1.1, 2.0), (2.5, 3.0), (4.0, 5.0)]
    others = [(3.2, 3.8)]
    # 0.1 s is too short; 2.0-2.5 is a pause; 3.0-4.0 is someone else's turn.
    assert pf.pauses(spans, others, 0.25) == [(2.0, 2.5)]
