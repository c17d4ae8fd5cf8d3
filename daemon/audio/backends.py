"""Which backend each audio stage uses: the audio section's choice plus which weights are
present."""

from __future__ import annotations

from pathlib import Path

from daemon.audio import pyannote_backend, sensevoice_backend, whisper_backend
from daemon.audio.weights import local_dir
from daemon.config import AudioConfig
from daemon.errors import PermanentError


def diarize_backend(cfg: AudioConfig) -> str:
    """'pyannote' or 'offline'."""
    choice = cfg.diarize_backend
    if choice == "auto":
        return "pyannote" if pyannote_backend.pipeline_source(cfg.pyannote_model) else "offline"
    return choice


def transcribe_backend(cfg: AudioConfig) -> str:
    """'sensevoice' or 'whisper'."""
    choice = cfg.transcribe_backend
    if choice == "auto":
        found = sensevoice_backend.model_source(cfg.sensevoice_model)
        return "sensevoice" if found else "whisper"
    return choice


def emotion_backend(cfg: AudioConfig) -> str:
    """'emotion2vec' or 'none'."""
    choice = cfg.emotion_backend
    if choice == "auto":
        return "emotion2vec" if emotion2vec_source(cfg) else "none"
    return choice


def emotion2vec_source(cfg: AudioConfig) -> Path | None:
    """The local emotion2vec folder, None when its weights are not here."""
    return local_dir(cfg.emotion2vec_model, sensevoice_backend.MARKER)


def require(found: object, what: str, setting: str) -> None:
    """Fail permanently when a backend chosen explicitly has no weights here."""
    if not found:
        raise PermanentError(
            f"{what} is configured but its weights are not on this machine; put them in the "
            f"local model cache or a folder named by {setting}, or choose another backend"
        )


def whisper_dir(cfg: AudioConfig) -> Path | None:
    """The Whisper model folder in use."""
    return whisper_backend.model_dir(cfg.whisper_model_dir)
