"""Blink, nod, head-speed and expression-change detectors on synthetic signals with known
answers; subject choice and tracking."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.visual import actions, events, geometry, nods
from daemon.visual.landmarks import Face
from daemon.visual.subject import SubjectTracker
from tests.support.pose_tracks import make_track, match


def _series(**columns: list) -> dict[str, list]:
    n = len(next(iter(columns.values())))
    base = {"t": [round(i * 0.2, 3) for i in range(n)], "face": [True] * n}
    return base | columns


def test_blinks_count_open_to_shut_transitions_within_face_runs() -> None:
    closed = [0.1, 0.8, 0.1, 0.1, 0.9, 0.9, 0.1, None, 0.7]
    s = _series(blink=closed, face=[v is not None for v in closed])
    # Shut at 1 and 4-5 inside the first run; index 8 starts a new run already shut.
    assert events.blink_count(s, 0.5) == 2


def test_nods_on_synthetic_tracks_are_found_with_high_precision_and_recall() -> None:
    hits = false_pos = missed = 0
    for seed in range(20):
        track = make_track(seed, nods=0 if seed % 5 == 0 else 12)
        found = nods.nod_times(track.t, track.pitch, 4.0, track.yaw)
        tp, fp, fn = match(track.nods, found)
        hits, false_pos, missed = hits + tp, false_pos + fp, missed + fn
    assert hits / (hits + false_pos) >= 0.9
    assert hits / (hits + missed) >= 0.9


def test_turns_look_downs_and_talking_alone_are_not_nods() -> None:
    for seed in range(5):
        track = make_track(100 + seed, nods=0)
        assert nods.nod_times(track.t, track.pitch, 4.0, track.yaw) == []


def _quiet(
    seconds: float = 10.0, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, seconds, 0.2)
    return t, np.random.default_rng(seed).normal(0.0, noise, t.size)


def test_a_nod_is_a_quick_down_up_cycle_above_the_pose_noise() -> None:
    t, pitch = _quiet()
    dip = pitch.copy()
    dip[20:24] += [-4.0, -8.0, -8.0, -3.0]  # 8 deg down and up within 1 s
    assert nods.nod_times(t, dip, 4.0) == [pytest.approx(4.2, abs=0.21)]
    slow = pitch.copy()
    slow[20:35] -= 8.0  # down for 3 s: looking down, not a nod
    assert nods.nod_times(t, slow, 4.0) == []
    shallow = pitch.copy()
    shallow[20:23] += [-1.5, -3.0, -1.5]  # under the 4 degree floor
    assert nods.nod_times(t, shallow, 4.0) == []
    jitter = np.where(np.arange(t.size) % 2 == 0, 1.5, -1.5)  # 3 degrees frame to frame
    jitter[20:24] += [-4.0, -8.0, -8.0, -3.0]  # the same nod in a jittery track
    assert nods.pose_noise(jitter) > 2.0
    assert nods.nod_times(t, jitter, 4.0) == []


def test_nods_are_counted_per_run_of_face_frames() -> None:
    t, pitch = _quiet()
    pitch[20:24] += [-4.0, -8.0, -8.0, -3.0]
    s = _series(pitch=[float(p) for p in pitch])
    assert events.nod_count(s, 4.0) == 1
    s["face"][21] = False  # the face is lost in the middle of the dip
    s["pitch"][21] = None
    assert events.nod_count(s, 4.0) == 0


def test_head_movement_is_angular_speed_between_consecutive_face_frames() -> None:
    s = _series(yaw=[0.0, 3.0, 3.0], pitch=[0.0, 4.0, 4.0], roll=[0.0, 0.0, 0.0])
    assert events.head_movement(s) == pytest.approx(np.mean([5.0 / 0.2, 0.0]))


def test_expression_flicker_shorter_than_the_dwell_is_no_change() -> None:
    states = ["neutral"] * 6 + ["smile"] * 2 + ["neutral"] * 6 + ["smile"] * 6 + ["neutral"]
    assert actions.held_states(states, 4)[6:8] == ["neutral", "neutral"]
    assert actions.state_changes(states, 4) == 1  # the 2-frame smile is flicker
    assert actions.state_changes(states, 1) == 4


def test_frame_state_is_the_strongest_action_relative_to_its_threshold() -> None:
    scores = actions.action_scores({"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6})
    assert actions.frame_state(scores) == "smile"
    scores = actions.action_scores(
        {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6, "browDownLeft": 0.6, "browDownRight": 0.6}
    )
    assert actions.frame_state(scores) == "brow lowering"  # 2x its threshold vs 1.2x
    assert actions.frame_state(actions.action_scores({})) == actions.NEUTRAL


def test_expression_changes_come_from_held_action_states() -> None:
    smile = [0.0] * 10 + [0.8] * 2 + [0.0] * 10 + [0.8] * 10
    columns = {key: [0.0] * len(smile) for key in actions.SERIES_KEY.values()}
    columns["au_smile"] = smile
    s = _series(**columns)
    assert events.expression_changes(s, 0.2) == 1  # a 0.4 s smile is flicker; 2 s is not
    assert actions.shares(s)["smile"] == pytest.approx(12 / 32)


def test_blinks_from_eye_aspect_ratio_use_the_clip_s_own_open_eye_level() -> None:
    ear = [0.3] * 5 + [0.1] + [0.3] * 5 + [0.12, 0.1] + [0.3] * 3
    s = _series(ear=ear)
    assert events.ear_blink_count(s) == 2
    narrow = _series(ear=[v / 3 for v in ear])  # narrower eyes, same blinks
    assert events.ear_blink_count(narrow) == 2


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
