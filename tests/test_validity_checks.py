"""The agreement statistics bench/validity.py reports, on signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from bench.validity_checks import cohen_kappa, frame_mask, praat_silences, reencode_shift

RATE = 16000


def _speech_with_gaps(gaps: list[tuple[float, float]], seconds: float = 6.0) -> np.ndarray:
    """A modulated 180 Hz tone standing in for speech, silent in `gaps`, at the start
    (0-0.5 s) and at the end (the last 0.5 s), over faint noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.sin(2 * np.pi * 4 * t))
    for a, b in [(0.0, 0.5), *gaps, (seconds - 0.5, seconds)]:
        x[int(a * RATE) : int(b * RATE)] = 0.0
    return x + np.random.default_rng(0).normal(0.0, 1e-4, x.size)


def test_praat_finds_the_pauses_between_speech_and_not_the_edges_or_short_gaps() -> None:
    x = _speech_with_gaps([(1.0, 1.5), (2.5, 2.7), (3.5, 4.3)])
    found = praat_silences(x, RATE, min_silent_s=0.25)
    assert len(found) == 2  # the 0.2 s gap is too short; leading/trailing silence is no pause
    for (a, b), (start, end) in zip(found, [(1.0, 1.5), (3.5, 4.3)], strict=True):
        assert abs(a - start) < 0.06 and abs(b - end) < 0.06


@pytest.mark.filterwarnings("ignore:The loudest and softest")
def test_praat_finds_nothing_in_continuous_sound_or_silence() -> None:
    assert praat_silences(_speech_with_gaps([]), RATE, 0.25) == []
    assert praat_silences(np.zeros(RATE * 2), RATE, 0.25) == []


def test_frames_inside_intervals_and_their_agreement() -> None:
    mask = frame_mask([(0.1, 0.3)], 0.5)
    assert mask.size == 50 and mask.sum() == 20 and mask[10] and not mask[30]
    same = frame_mask([(0.1, 0.3)], 0.5)
    assert cohen_kappa(mask, same) == 1.0
    assert cohen_kappa(mask, frame_mask([(0.3, 0.5)], 0.5)) < 0


def test_reencoding_shift_is_the_median_change_over_the_spread() -> None:
    original = [1.0, 2.0, 3.0, 4.0, 5.0]  # SD 1.58
    moved = [1.1, 2.1, 2.9, 4.8, None]  # changes 0.1, 0.1, 0.1, 0.8: median 0.1
    shift = reencode_shift(original, moved)
    sd = np.std(original, ddof=1)
    assert shift == {"median_change": 0.1, "ratio": round(0.1 / sd, 3),
                     "mean_ratio": round(0.275 / sd, 3)}  # fmt: skip
    assert reencode_shift([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])["ratio"] is None  # no spread


def test_each_reencoding_changes_only_what_it_names(tmp_path) -> None:
    from bench.validity import REENCODE, reencode
    from daemon.media import probe
    from tests.support.media_factory import make_video, tone

    src = make_video(tmp_path / "src.mp4", seconds=2.0, size=(320, 240), audio=tone(2.0))
    small = probe(reencode(src, tmp_path / "360p.mp4", **{**REENCODE["360p"], "height": 120}))
    same = probe(reencode(src, tmp_path / "low.mp4", **REENCODE["low_bitrate"]))
    assert (small["video"]["width"], small["video"]["height"]) == (160, 120)
    assert (same["video"]["width"], same["video"]["height"]) == (320, 240)
    assert small["audio"] and same["audio"] and abs(same["duration_s"] - 2.0) < 0.2
