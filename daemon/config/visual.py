"""Config section for the visual stages."""

from __future__ import annotations

from pydantic import Field

from daemon.config.base import Section


class VisualConfig(Section):
    sample_fps: float = Field(
        5.0, gt=0.0, le=60.0, description="Frames analysed per second of video."
    )
    max_side: int = Field(
        640,
        ge=128,
        le=4096,
        description="Frames are downscaled so their longer side is at most this many pixels.",
    )
    max_faces: int = Field(
        3, ge=1, le=10, description="Faces looked for per frame (the subject is one of them)."
    )
    min_face_confidence: float = Field(
        0.5, gt=0.0, lt=1.0, description="Face detection and presence confidence threshold."
    )
    smile_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Mean mouthSmile blendshape above which a frame smiles."
    )
    blink_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Mean eyeBlink blendshape above which the eyes are shut."
    )
    eye_contact_max_deg: float = Field(
        12.0,
        gt=0.0,
        le=90.0,
        description="Gaze (head pose plus eye direction) within this angle counts as eye contact.",
    )
    nod_min_deg: float = Field(
        4.0, gt=0.0, le=45.0, description="Smallest down-and-up pitch swing counted as a nod."
    )
    attribute_frames: int = Field(
        8,
        ge=0,
        le=100,
        description="Frames (spread over the clip) used for apparent age and gender; 0 = off.",
    )
    expressions: bool = Field(
        False,
        description="Also run the 7-class expression model (kept in the stage output for "
        "comparison, never described: it failed its validity check, and it takes over half "
        "of the face analysis time; descriptions use facial actions from the blendshapes).",
    )
