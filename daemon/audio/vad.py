"""Speech regions with silero-vad (the JIT model shipped inside the `silero-vad` package)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from daemon.audio.resample import to_rate
from daemon.audio.turns import Interval

if TYPE_CHECKING:
    from daemon.model_cache import ModelCache

VAD_RATE = 16000


def silero_version() -> str:
    """The installed silero-vad version, for the record."""
    from importlib.metadata import version

    return f"silero-vad {version('silero-vad')}"


def load_silero() -> tuple[Any, threading.Lock]:
    """The silero-vad JIT model from the package (no download), with a lock: it keeps state."""
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=False), threading.Lock()


def speech_regions(
    models: ModelCache, samples: np.ndarray, rate: int, threshold: float
) -> list[Interval]:
    """Speech regions in seconds, found by silero-vad (loaded once into `models`) at
    `threshold`."""
    import torch
    from silero_vad import get_speech_timestamps

    model, lock = models.get(("silero-vad", silero_version(), "cpu"), load_silero)
    wav = torch.from_numpy(to_rate(samples, rate, VAD_RATE))
    with lock, torch.inference_mode():
        stamps = get_speech_timestamps(
            wav,
            model,
            threshold=threshold,
            sampling_rate=VAD_RATE,
            min_speech_duration_ms=200,
            min_silence_duration_ms=150,
            speech_pad_ms=30,
        )
        model.reset_states()
    return [(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in stamps]
