"""Audio code takes plain arguments: samples, a model cache, a stop callable."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.audio import offline_diarize
from daemon.audio.signal import read_audio
from daemon.errors import StopRequested
from daemon.media import write_wav


def _noise(seconds: float, rate: int = 16000) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


def test_read_audio_returns_samples_and_rate(tmp_path) -> None:
    path = tmp_path / "a.wav"
    write_wav(path, _noise(0.5), 16000)
    audio = read_audio(path)
    assert audio.rate == 16000 and audio.duration_s == pytest.approx(0.5, abs=1e-3)


def test_offline_diarize_stops_between_batches_when_asked(model_cache) -> None:
    samples = _noise(3.0)
    calls: list[int] = []

    def stop_now() -> bool:
        calls.append(1)
        return True

    with pytest.raises(StopRequested):
        offline_diarize.diarize(model_cache, samples, 16000, [(0.0, 3.0)], 0.45, 0.1, stop_now)
    assert calls == [1]
    turns = offline_diarize.diarize(model_cache, samples, 16000, [(0.0, 3.0)], 0.45, 0.1)
    assert turns and {t["speaker"] for t in turns} == {"SPEAKER_00"}
