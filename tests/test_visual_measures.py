"""Blink, nod, head-speed and expression-change counting; subject choice and tracking."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.visual import geometry, summary
from daemon.visual.analyze import FrameLog
from daemon.visual.landmarks import Face
from daemon.visual.subject import SubjectTracker


def _series(**columns: list) -> dict[str, list]:
    n = len(next(iter(columns.values())))
    base = {"t": [round(i * 0.2, 3) for i in range(n)], "face": [True] * n}
    return base | columns


def test_blinks_count_open_to_shut_transitions_within_face_runs() -> None:
    closed = [0.1, 0.8, 0.1, 0.1, 0.9, 0.9, 0.1, None, 0.7]
    s = _series(blink=closed, face=[v is not None for v in closed])
    # Shut at 1 and 4-5 inside the first run; index 8 starts a new run already shut.
    assert summary.blink_count(s, 0.5) == 2


def test_nods_need_two_opposite_swings_close_in_time() -> None:
    pitch = [0, -6, 0, 0, 0, 0, -2, 0, 0, 5, -5, 5]
    s = _series(pitch=[float(p) for p in pitch])
    # One nod at 0-2 (6 deg down and up); the 2 deg dip is too small; 9-11 swings 10 deg.
    assert summary.nod_count(s, 4.0) == 2
    far = {"t": [0.0, 1.0, 3.0], "face": [True] * 3, "pitch": [0.0, -6.0, 0.0]}
    assert summary.nod_count(far, 4.0) == 0  # the up swing comes 2 s later


def test_head_movement_is_angular_speed_between_consecutive_face_frames() -> None:
    s = _series(yaw=[0.0, 3.0, 3.0], pitch=[0.0, 4.0, 4.0], roll=[0.0, 0.0, 0.0])
    assert summary.head_movement(s) == pytest.approx(np.mean([5.0 / 0.2, 0.0]))


def test_a_single_odd_expression_frame_is_not_a_change() -> None:
    log = FrameLog()
    for label in ["happy", "happy", "sadness", "happy", "neutral", "neutral", "neutral", "neutral"]:
        log.add({"t": 0.0, "face": True, "expression": label})
    shares, dominant, changes = summary.expressions(log)
    assert changes == 1
    assert dominant == ["neutral", "happy"]
    assert shares["sadness"] == pytest.approx(1 / 8, abs=1e-3)


def _face(x0: float, y0: float, x1: float, y1: float) -> Face:
    marks = np.array([[x0, y0, 0.0], [x1, y1, 0.0]], dtype=np.float32)
    return Face(landmarks=marks, blendshapes={}, matrix=None)


def test_subject_is_largest_central_face_then_tracked() -> None:
    tracker = SubjectTracker()
    small = _face(0.05, 0.05, 0.15, 0.15)
    big = _face(0.4, 0.3, 0.6, 0.6)
    assert tracker.choose([small, big]) is big
    # A larger face appears elsewhere; the subject stays the one overlapping the last box.
    bigger = _face(0.0, 0.5, 0.35, 0.99)
    moved = _face(0.42, 0.31, 0.62, 0.61)
    assert tracker.choose([bigger, moved]) is moved
    assert tracker.switches == 0 and tracker.multi_face_frames == 2
    assert tracker.choose([]) is None


def test_head_angles_of_a_known_rotation() -> None:
    yaw = np.radians(20.0)
    m = np.eye(4)
    m[:3, :3] = [[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]]
    y, p, r = geometry.head_angles(m)
    assert abs(y) == pytest.approx(20.0, abs=1e-6)
    assert p == pytest.approx(0.0, abs=1e-6) and r == pytest.approx(0.0, abs=1e-6)
