"""Choose and follow the subject's face when several faces are visible."""

from __future__ import annotations

from daemon.visual.landmarks import Face

RULE = "largest_central_tracked"
TRACK_MIN_IOU = 0.3
Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _size_and_centrality(face: Face) -> float:
    x0, y0, x1, y1 = face.box
    offset = max(abs((x0 + x1) / 2 - 0.5), abs((y0 + y1) / 2 - 0.5)) * 2
    return (x1 - x0) * (y1 - y0) * (1.0 - 0.5 * min(1.0, offset))


class SubjectTracker:
    """Keeps the same face as the subject from frame to frame.

    The first subject is the largest, most central face; afterwards the face that
    overlaps the last subject box most is kept, so a second person passing by does
    not take over. When the subject is lost, the rule starts again.
    """

    def __init__(self) -> None:
        self.last_box: Box | None = None
        self.switches = 0  # frames where several faces were visible and the subject changed
        self.multi_face_frames = 0

    def choose(self, faces: list[Face]) -> Face | None:
        """The subject among this frame's faces, or None when there is no face."""
        if not faces:
            return None
        if len(faces) > 1:
            self.multi_face_frames += 1
        if self.last_box is not None:
            overlaps = [iou(self.last_box, f.box) for f in faces]
            best = max(range(len(faces)), key=overlaps.__getitem__)
            if overlaps[best] >= TRACK_MIN_IOU:
                self.last_box = faces[best].box
                return faces[best]
            if len(faces) > 1:
                self.switches += 1
        face = max(faces, key=_size_and_centrality)
        self.last_box = face.box
        return face
