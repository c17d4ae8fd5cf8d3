"""A phone's video is stored on its side with a display rotation: probe reports the
picture as shown, and the face is analysed upright (a quarter turn must not read as a
head tilted by 90 degrees)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from daemon import media
from daemon.runner import execute
from daemon.stages import analyze_face, probe
from tests.conftest import CLIPS_DIR, requires_clips

CLIP = CLIPS_DIR / "Uu-NbXUPr-A.001.mp4"


def copy_turned(src: Path, dst: Path, seconds: float, turn: int) -> Path:
    """The first `seconds` of `src` re-encoded (320 px wide); with `turn` = 90 the pictures
    are stored turned clockwise with a 90-degree display rotation, as phones store them."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        shape = (180, 320) if turn == 0 else (320, 180)
        stream.height, stream.width = shape
        stream.pix_fmt = "yuv420p"
        if turn:
            stream.set_display_rotation(turn)
        written = 0
        for frame in inp.decode(video=0):
            if frame.time is None or frame.time < written / 10:
                continue
            if frame.time > seconds:
                break
            rgb = frame.reformat(width=320, height=180, format="rgb24").to_ndarray()
            if turn:
                rgb = np.ascontiguousarray(np.rot90(rgb, -turn // 90))  # clockwise
            out_frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            out_frame.pts, out_frame.time_base = written, Fraction(1, 10)
            for packet in stream.encode(out_frame):
                out.mux(packet)
            written += 1
        for packet in stream.encode():
            out.mux(packet)
    return dst


def test_upright_turns_counterclockwise() -> None:
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 2] = 255  # top right
    turned = media.upright(rgb, 90)
    assert turned.shape == (3, 2, 3) and turned[0, 0, 0] == 255  # now top left
    assert media.upright(rgb, 0) is rgb


def _analyse(make_ctx, path: Path) -> tuple[dict, dict]:
    ctx = make_ctx(path)
    ctx.config.visual.sample_fps = 2.0
    assert execute(probe.STAGE, ctx).kind == "done"
    assert execute(analyze_face.STAGE, ctx).kind == "done"
    probed = json.loads(ctx.artifact_path("probe.json").read_text())["data"]
    face = json.loads(ctx.artifact_path("analyze_face.json").read_text())["data"]
    return probed, face


@requires_clips
@pytest.mark.slow
def test_a_phone_video_is_analysed_upright(tmp_path, make_ctx) -> None:
    plain = copy_turned(CLIP, tmp_path / "plain.mp4", 4.0, 0)
    turned = copy_turned(CLIP, tmp_path / "turned.mp4", 4.0, 90)
    plain_probe, plain_face = _analyse(make_ctx, plain)
    turned_probe, turned_face = _analyse(make_ctx, turned)
    video = turned_probe["video"]
    assert video["rotation"] == 90 and (video["width"], video["height"]) == (320, 180)
    assert (video["coded_width"], video["coded_height"]) == (180, 320)  # stored on its side
    assert plain_probe["video"]["rotation"] == 0
    assert turned_face["frame_size"] == plain_face["frame_size"]  # shown as a player would
    plain_roll = plain_face["summary"]["head_roll_mean_deg"]
    turned_roll = turned_face["summary"]["head_roll_mean_deg"]
    assert turned_face["summary"]["face_share"] >= 0.9
    assert abs(turned_roll - plain_roll) < 5.0, (plain_roll, turned_roll)
