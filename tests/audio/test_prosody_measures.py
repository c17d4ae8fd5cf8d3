"""Prosody detectors on synthetic signals with known answers: pitch and pauses."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.audio import prosody_features as pf
from daemon.audio import turns, vad
from tests.support.audio_helpers import espeak, requires_espeak, silence
from tests.support.media_factory import tone

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


# Tone bursts and the silences between them, in seconds: 0.12 s is too short for a pause.
BURSTS = (1.0, 0.8, 0.9, 1.1)
SILENCES = (0.50, 0.12, 0.70)
HANGOVER_S = 0.25  # how long silero-vad's regions run on after the sound stops
PAD_S = 0.03


def _bursts_and_silences() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Tone bursts separated by SILENCES (with a faint noise floor), and the true silences."""
    parts, silent, t = [], [], 0.0
    for i, burst in enumerate(BURSTS):
        parts.append(tone(burst, RATE, freq=180.0 + 40 * i))
        t += burst
        if i < len(SILENCES):
            parts.append(np.zeros(int(SILENCES[i] * RATE), dtype=np.float32))
            silent.append((t, t + SILENCES[i]))
            t += SILENCES[i]
    noise = np.random.default_rng(0).normal(0, 1e-4, int(t * RATE) + 10).astype(np.float32)
    return np.concatenate(parts) + noise[: sum(p.size for p in parts)], silent


def test_pauses_are_timed_on_the_sound_not_on_the_vad_s_hangover_and_padding() -> None:
    x, silent = _bursts_and_silences()
    # Speech spans as a VAD draws them: padded on both sides, running on after each burst.
    spans, t = [], 0.0
    for i, burst in enumerate(BURSTS):
        end = t + burst + HANGOVER_S + PAD_S
        after = t + burst + (SILENCES[i] if i < len(SILENCES) else 1.0)
        spans.append((max(0.0, t - PAD_S), min(end, after)))
        t = after
    spans = turns.union(spans)
    # Between the VAD's own spans 0.50 s of silence shows as 0.19 s, 0.70 s as 0.39 s.
    assert [round(b - a, 2) for a, b in pf.pauses(spans, [], 0.25)] == [0.39]
    found = pf.pauses(pf.sounding_edges(x, RATE, spans), [], 0.25)
    expected = [s for s in silent if s[1] - s[0] >= 0.25]
    assert len(found) == len(expected) == 2
    for (a, b), (ea, eb) in zip(found, expected, strict=True):
        assert a == pytest.approx(ea, abs=0.02) and b == pytest.approx(eb, abs=0.02)


def test_a_span_with_nothing_above_the_silence_threshold_keeps_its_edges() -> None:
    x = np.concatenate([tone(1.0, RATE, amp=0.5), tone(1.0, RATE, amp=0.001)])
    spans = [(0.0, 1.0), (1.2, 1.8)]
    narrowed = pf.sounding_edges(x, RATE, spans)
    assert narrowed[1] == (1.2, 1.8)  # 54 dB below the loud burst: left to the VAD
    assert narrowed[0][0] == pytest.approx(0.0, abs=0.02)
    assert narrowed[0][1] == pytest.approx(1.0, abs=0.02)


def _sounding(x: np.ndarray) -> np.ndarray:
    """espeak-ng's output without its own leading and trailing silence."""
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    return x[loud[0] : loud[-1] + 1]


@pytest.mark.slow
@requires_espeak
def test_silero_speech_with_known_silences_gives_those_pauses(tmp_path, model_cache) -> None:
    phrases = ("I have been working as an engineer", "many years", "and I enjoy it", "a lot")
    parts, silent, t = [silence(0.3)], [], 0.3
    for text, gap in zip(phrases, (0.5, 0.12, 0.7, 0.3), strict=True):
        speech = _sounding(espeak(text, tmp_path))
        parts += [speech, silence(gap)]
        t += speech.size / RATE
        silent.append((t, t + gap))
        t += gap
    x = np.concatenate(parts)
    regions = vad.speech_regions(model_cache, x, RATE, 0.5)
    found = pf.pauses(pf.sounding_edges(x, RATE, regions), [], 0.25)
    assert len(found) == 2  # 0.12 s is no pause; the last silence ends the talk
    for (a, b), (ea, eb) in zip(found, [silent[0], silent[2]], strict=True):
        assert a == pytest.approx(ea, abs=0.04) and b == pytest.approx(eb, abs=0.04)
