"""Per-face measures from landmarks, blendshapes and the transformation matrix."""

from __future__ import annotations

import math

import numpy as np

from daemon.visual.landmarks import Face

# A blendshape eyeLook* score of 1 is taken as this many degrees of eye rotation
# (the human oculomotor range is about 35-45 degrees; faces rarely reach it on video).
EYE_RANGE_DEG = 30.0


def head_angles(matrix: np.ndarray | None) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) in degrees from the 4x4 facial transformation matrix.

    Signs (checked against the nose and eye landmarks on real clips): yaw > 0 when
    the face turns towards the image's right, pitch > 0 when it tilts up, roll > 0
    when the head leans towards the image's left.
    """
    if matrix is None:
        return None
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    yaw = math.degrees(math.atan2(-r[2, 0], math.hypot(r[2, 1], r[2, 2])))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return yaw, -pitch, roll


def _mean(shapes: dict[str, float], *names: str) -> float:
    return float(np.mean([shapes.get(n, 0.0) for n in names]))


def expression_scores(shapes: dict[str, float]) -> dict[str, float]:
    """Smile, brow raise, eye openness and eye closure (blink), each 0..1."""
    blink = _mean(shapes, "eyeBlinkLeft", "eyeBlinkRight")
    return {
        "smile": _mean(shapes, "mouthSmileLeft", "mouthSmileRight"),
        "brow_raise": _mean(shapes, "browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
        "eye_openness": 1.0 - blink,
        "blink": blink,
    }


# Six landmarks per eye in the order of Soukupova & Cech's eye aspect ratio: outer corner,
# two upper lid points, inner corner, two lower lid points (MediaPipe face mesh indices).
EYE_POINTS = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380))


def eye_aspect_ratio(face: Face, width: int, height: int) -> float | None:
    """Mean eye aspect ratio of both eyes (lid opening over eye width; about 0.25-0.35
    open, near 0 shut), from the landmarks in pixels (Soukupova & Cech, "Real-time eye
    blink detection using facial landmarks", CVWW 2016). None without the full mesh."""
    if face.landmarks.shape[0] < 468:
        return None
    pts = face.landmarks[:, :2] * np.array([width, height], dtype=np.float32)
    ratios = []
    for p1, p2, p3, p4, p5, p6 in EYE_POINTS:
        d = lambda a, b: float(np.linalg.norm(pts[a] - pts[b]))  # noqa: E731
        span = d(p1, p4)
        if span > 0:
            ratios.append((d(p2, p6) + d(p3, p5)) / (2.0 * span))
    return float(np.mean(ratios)) if ratios else None


def eye_direction(shapes: dict[str, float]) -> tuple[float, float]:
    """(yaw, pitch) of the eyes relative to the head in degrees, same signs as head_angles.

    Blendshape names are from the subject's side: the subject's left eye looking
    "out" and the right eye looking "in" both look towards the subject's left, which
    is the image's right in an unmirrored video.
    """
    towards_image_right = _mean(shapes, "eyeLookOutLeft", "eyeLookInRight") - _mean(
        shapes, "eyeLookInLeft", "eyeLookOutRight"
    )
    up = _mean(shapes, "eyeLookUpLeft", "eyeLookUpRight") - _mean(
        shapes, "eyeLookDownLeft", "eyeLookDownRight"
    )
    return towards_image_right * EYE_RANGE_DEG, up * EYE_RANGE_DEG


def gaze(face: Face) -> tuple[float, float] | None:
    """Gaze (yaw, pitch) in degrees: head pose plus eye direction; 0, 0 looks at the camera."""
    angles = head_angles(face.matrix)
    if angles is None:
        return None
    eye_yaw, eye_pitch = eye_direction(face.blendshapes)
    return angles[0] + eye_yaw, angles[1] + eye_pitch


def square_box(face: Face, width: int, height: int, grow: float = 1.0) -> tuple[int, int, int, int]:
    """A square pixel box (x0, y0, x1, y1) around the face, clipped to the frame."""
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
    half = max((x1 - x0) * width, (y1 - y0) * height) * grow / 2
    return (
        max(0, int(cx - half)),
        max(0, int(cy - half)),
        min(width, int(math.ceil(cx + half))),
        min(height, int(math.ceil(cy + half))),
    )


def framing(face: Face) -> dict[str, float]:
    """Face width as a share of the frame width and the distance of its centre from the
    frame centre (0 = centred, 1 = at an edge)."""
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    offset = min(1.0, 2.0 * max(abs(cx - 0.5), abs(cy - 0.5)))
    return {"face_width_share": x1 - x0, "face_center_offset": offset}
