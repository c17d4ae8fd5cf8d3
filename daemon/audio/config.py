"""Config section for the audio stages."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AudioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    sample_rate: int = Field(
        16000, ge=8000, le=48000, description="Sample rate of the extracted wav (Hz)."
    )
    diarize_backend: Literal["auto", "pyannote", "offline"] = Field(
        "auto",
        description="'auto' uses pyannote when its weights are present, else the offline backend.",
    )
    transcribe_backend: Literal["auto", "sensevoice", "whisper"] = Field(
        "auto",
        description="'auto' uses SenseVoice when its weights are present, else faster-whisper tiny.en.",
    )
    emotion_backend: Literal["auto", "emotion2vec", "none"] = Field(
        "auto",
        description="'auto' uses emotion2vec when its weights are present, else the stage is skipped.",
    )
