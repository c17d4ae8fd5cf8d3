"""The summary fields each analysis stage writes under `data["summary"]`.

This is the contract between the analysis stages and `describe`: a stage may record
more, but these keys are always present (None when not measurable). Per-frame or
per-window series go under `data["series"]`, for plots.
"""

from __future__ import annotations

from typing import TypedDict


class Turn(TypedDict):
    start: float
    end: float
    speaker: str


class SpeakerTime(TypedDict):
    speaker: str
    talk_time_s: float
    share: float  # of all speech in the clip


class DiarizeSummary(TypedDict):
    num_speakers: int  # estimated, never forced
    subject: str | None  # the speaker chosen as the subject
    subject_rule: str  # e.g. "most_speech"; "user" or "sidecar" when chosen outside
    subject_reason: str  # e.g. "most speech: 168.0 s of 216.0 s"
    subject_talk_time_s: float
    speech_s: float  # total speech in the clip, all speakers
    duration_s: float
    speakers: list[SpeakerTime]


class TranscribeSummary(TypedDict):
    text: str  # the subject's words, plain text, no tags or emoji
    language: str | None
    word_count: int
    official_text: str | None  # from a label file (e.g. First Impressions), when present
    events: list[str]  # audio events the ASR tagged (laughter, music...), deduplicated


class SpeechEmotionSummary(TypedDict):
    distribution: dict[str, float]  # mean probability per emotion over the subject's speech
    dominant: list[str]  # most likely emotions, strongest first
    changes_per_min: float | None  # how often the segment-level top emotion changes


class ProsodySummary(TypedDict):
    pitch_mean_hz: float | None
    pitch_sd_semitones: float | None
    pitch_range_semitones: float | None  # 5th to 95th percentile over voiced frames
    loudness_lufs: float | None  # ITU-R BS.1770 integrated loudness
    loudness_sd_db: float | None  # spread of short-term loudness over speech
    speech_rate_wps: float | None  # words per second of the subject's speech time
    speech_rate_sps: float | None  # syllables per second of speech time
    speech_rate_source: str | None  # "transcript" (CMUdict syllables) or "acoustic" (nuclei)
    pause_count: int | None
    pause_mean_s: float | None
    pauses_per_min: float | None
    speech_ratio: float | None  # speech time / (speech + pauses) within the subject's talk
    jitter_local: float | None  # fraction (0.01 = 1 %)
    shimmer_local: float | None  # fraction
    hnr_db: float | None
    voiced_share: float | None


class FaceSummary(TypedDict):
    frames_sampled: int
    face_share: float  # frames with the subject's face / frames sampled
    max_faces: int  # most faces seen in one frame
    subject_rule: str  # how the subject's face was chosen
    smile_mean: float | None  # 0..1 blendshape intensity
    smile_share: float | None  # share of face frames with a clear smile
    brow_raise_mean: float | None  # 0..1
    eye_openness_mean: float | None  # 0..1
    blinks_per_min: float | None
    eye_contact_share: float | None  # share of face frames looking at the camera
    head_yaw_mean_deg: float | None
    head_pitch_mean_deg: float | None
    head_roll_mean_deg: float | None
    head_movement_deg_per_s: float | None
    nods_per_min: float | None
    expressions: dict[str, float]  # 7-class model: share of face frames (not described)
    dominant_expressions: list[str]  # 7-class model (not described)
    expression_changes_per_min: float | None  # changes between held facial-action states
    facial_actions: dict[str, float]  # share of face frames with each FACS-style action on
    body_motion: float | None  # mean upper-body movement energy, 0..1
    face_width_share: float | None  # face width / frame width (how close the person sits)
    face_center_offset: float | None  # 0 = centred, 1 = at the frame edge
    brightness: float | None  # mean luma 0..1
    apparent_age: float | None
    apparent_age_range: str | None  # e.g. "25-32"
    apparent_gender: str | None  # "female" / "male"
    apparent_gender_confidence: float | None
    glasses: bool | None
