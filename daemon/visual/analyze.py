"""The per-frame loop: decode, landmark, choose the subject, measure, classify.

The per-frame series (one list per SERIES_KEYS entry, one value per sampled frame, None
where the subject's face was not found) are stored in analyze_face's output under
`series`, at `sample_fps` frames per second: `t` (s), `smile`, `brow_raise`, `blink`,
`eye_openness` (0..1 blendshape means), `ear` (eye aspect ratio, 3 decimals), `yaw`,
`pitch`, `roll`, `gaze_yaw`, `gaze_pitch` (degrees, 2 decimals), `eye_contact` (bool),
`expression` and `expression_p` (the 7-class model's top class, not described), the
facial actions `au_smile`, `au_brow_raise`, `au_brow_lowering`, `au_lip_press`,
`au_jaw_drop` (0..1, 3 decimals; see daemon/visual/actions.py), `motion`, framing and
`brightness`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from daemon.config import VisualConfig
from daemon.visual import actions, attributes, geometry, motion
from daemon.visual.expression import ExpressionClassifier
from daemon.visual.frames import iter_frames
from daemon.visual.landmarks import Face, Landmarker
from daemon.visual.subject import SubjectTracker

SERIES_KEYS = (
    "t", "faces", "face", "smile", "brow_raise", "eye_openness", "blink", "ear", "yaw",
    "pitch", "roll", "gaze_yaw", "gaze_pitch", "eye_contact", "expression", "expression_p",
    *actions.SERIES_KEY.values(),
    "motion", "face_width_share", "face_center_offset", "brightness", "face_box",
)  # fmt: skip


@dataclass
class Models:
    """What the loop runs; the classifier and attribute model are optional."""

    landmarker: bytes
    expression: ExpressionClassifier | None = None
    attributes: Any | None = None


@dataclass
class FrameLog:
    """Per-frame values as columns (one list per key), plus what happened on the way."""

    series: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in SERIES_KEYS})
    expression_probs: list[list[float] | None] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)
    max_faces: int = 0
    multi_face_frames: int = 0
    subject_switches: int = 0
    frame_size: tuple[int, int] | None = None

    def add(self, row: dict[str, Any]) -> None:
        for key in SERIES_KEYS:
            self.series[key].append(row.get(key))

    @property
    def frames(self) -> int:
        return len(self.series["t"])


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _face_row(face: Face, rgb: np.ndarray, models: Models, cfg: VisualConfig) -> dict[str, Any]:
    import cv2

    h, w = rgb.shape[:2]
    scores = geometry.expression_scores(face.blendshapes)
    row: dict[str, Any] = {k: _r(v) for k, v in scores.items()}
    row.update({k: _r(v, 3) for k, v in actions.action_scores(face.blendshapes).items()})
    row["ear"] = _r(geometry.eye_aspect_ratio(face, w, h), 3)
    row.update({k: _r(v) for k, v in geometry.framing(face).items()})
    row["face_box"] = [_r(v, 3) for v in face.box]  # normalised x0, y0, x1, y1 (report crops)
    angles = geometry.head_angles(face.matrix)
    if angles is not None:
        row["yaw"], row["pitch"], row["roll"] = (_r(a, 2) for a in angles)
        gy, gp = geometry.gaze(face) or (None, None)
        row["gaze_yaw"], row["gaze_pitch"] = _r(gy, 2), _r(gp, 2)
        row["eye_contact"] = bool(np.hypot(gy, gp) <= cfg.eye_contact_max_deg)
    if models.expression is not None:
        x0, y0, x1, y1 = geometry.square_box(face, w, h)
        grey = cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        if grey.size:
            probs = models.expression.classify(grey)
            top = max(probs, key=probs.__getitem__)
            row["expression"], row["expression_p"] = top, probs[top]
            row["_probs"] = list(probs.values())
    return row


def run(
    path: Path,
    cfg: VisualConfig,
    models: Models,
    expected_frames: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> FrameLog:
    """Analyse every sampled frame of the video at `path`; one frame in memory at a time."""
    log = FrameLog()
    tracker = SubjectTracker()
    every = max(1, expected_frames // cfg.attribute_frames) if cfg.attribute_frames else 0
    prev_grey: np.ndarray | None = None
    with Landmarker(models.landmarker, cfg.max_faces, cfg.min_face_confidence) as lm:
        for frame in iter_frames(path, cfg.sample_fps, cfg.max_side, should_stop):
            log.frame_size = frame.rgb.shape[1], frame.rgb.shape[0]
            faces = lm.detect(frame.rgb, frame.t)
            log.max_faces = max(log.max_faces, len(faces))
            grey = motion.small_grey(frame.rgb)
            subject = tracker.choose(faces)
            row: dict[str, Any] = {"t": frame.t, "faces": len(faces), "face": subject is not None}
            row["brightness"] = _r(motion.brightness(grey))
            if subject is not None:
                row.update(_face_row(subject, frame.rgb, models, cfg))
                row["motion"] = _r(
                    motion.movement(prev_grey, grey, motion.body_region(subject.box)), 5
                )
                if models.attributes is not None and every and frame.index % every == 0:
                    if len(log.attributes) < cfg.attribute_frames:
                        box = geometry.square_box(subject, *log.frame_size)
                        found = attributes.estimate(models.attributes, frame.rgb, box)
                        if found is not None:
                            log.attributes.append(found)
            log.expression_probs.append(row.pop("_probs", None))
            log.add(row)
            prev_grey = grey
    log.multi_face_frames = tracker.multi_face_frames
    log.subject_switches = tracker.switches
    return log
