"""Which backend each audio stage uses: config choice plus which weights are present."""

from __future__ import annotations

from daemon.audio import pyannote_backend, sensevoice_backend, whisper_backend
from daemon.audio.weights import local_dir
from daemon.config import Config
from daemon.errors import PermanentError


def diarize_backend(config: Config) -> str:
    """'pyannote' or 'offline'."""
    choice = config.audio.diarize_backend
    if choice == "auto":
        return (
            "pyannote"
            if pyannote_backend.pipeline_source(config.audio.pyannote_model)
            else "offline"
        )
    return choice


def transcribe_backend(config: Config) -> str:
    """'sensevoice' or 'whisper'."""
    choice = config.audio.transcribe_backend
    if choice == "auto":
        found = sensevoice_backend.model_source(config.audio.sensevoice_model)
        return "sensevoice" if found else "whisper"
    return choice


def emotion_backend(config: Config) -> str:
    """'emotion2vec' or 'none'."""
    choice = config.audio.emotion_backend
    if choice == "auto":
        return "emotion2vec" if emotion2vec_source(config) else "none"
    return choice


def emotion2vec_source(config: Config):  # noqa: ANN201 - Path | None
    """The local emotion2vec folder, None when its weights are not here."""
    return local_dir(config.audio.emotion2vec_model, sensevoice_backend.MARKER)


def require(found: object, what: str, setting: str) -> None:
    """Fail permanently when a backend chosen explicitly has no weights here."""
    if not found:
        raise PermanentError(
            f"{what} is configured but its weights are not on this machine; put them in the "
            f"local model cache or a folder named by {setting}, or choose another backend"
        )


def whisper_dir(config: Config):  # noqa: ANN201 - Path | None
    """The Whisper model folder in use."""
    return whisper_backend.model_dir(config.audio.whisper_model_dir)
