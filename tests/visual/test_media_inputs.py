"""Awkward media: a truncated MP4 is probed for the length it really holds, and a
container that cannot seek (classic FLV) is probed without seeking."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from daemon import media
from tests.support.media_factory import moving_square, tone


def make_interleaved_mp4(path: Path, seconds: float = 15.0, fps: int = 10) -> Path:
    """A 'faststart' MP4 (index first) with video and audio interleaved, as cameras and
    editors write them: truncating it keeps a readable head."""
    width, height, rate = 160, 120, 16000
    audio, per = tone(seconds, rate), rate // fps
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        video = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=rate)
        sound.layout = "mono"
        for i in range(int(seconds * fps)):
            picture = av.VideoFrame.from_ndarray(moving_square(i, height, width), format="rgb24")
            out.mux(video.encode(picture))
            block = audio[i * per : (i + 1) * per].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, i * per, Fraction(1, rate)
            out.mux(sound.encode(frame))
        out.mux(video.encode())
        out.mux(sound.encode(None))
    return path


def make_classic_flv(path: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    """Sorenson H.263 video and ADPCM audio in FLV, as Flash-era files hold."""
    width, height, rate = 160, 120, 22050
    with av.open(str(path), "w", format="flv") as out:
        video = out.add_stream("flv", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("adpcm_swf", rate=rate)
        sound.layout = "mono"
        for i in range(int(seconds * fps)):
            picture = av.VideoFrame.from_ndarray(moving_square(i, height, width), format="rgb24")
            out.mux(video.encode(picture))
        out.mux(video.encode())
        samples = (tone(seconds, rate) * 32767).astype(np.int16)
        for start in range(0, len(samples), 1024):
            block = samples[start : start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


def test_a_truncated_mp4_is_probed_for_what_it_holds(tmp_path: Path) -> None:
    """Cut to 60 %: the header still says 15 s, the streams end near 9 s. Probe records
    the real length with a warning, and the audio keeps its decodable head."""
    whole = make_interleaved_mp4(tmp_path / "whole.mp4")
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert media.probe(whole)["warnings"] == []
    info = media.probe(cut)
    assert info["truncated"] and info["declared_duration_s"] == pytest.approx(15.0, abs=0.1)
    assert 7.0 < info["duration_s"] < 11.0
    assert info["video"]["duration_s"] <= info["duration_s"]
    assert "truncated" in info["warnings"][0] and "15.0 s" in info["warnings"][0]
    seconds = len(media.decode_audio(cut)) / 16000
    assert abs(seconds - info["audio"]["duration_s"]) < 0.5


def test_a_truncated_mp4_says_so_in_the_probe_summary(make_ctx, tmp_path: Path) -> None:
    from daemon.pipeline import Pipeline
    from daemon.runner import execute

    whole = make_interleaved_mp4(tmp_path / "whole.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    outcome = execute(Pipeline.default(["probe"])["probe"], make_ctx(cut))
    assert outcome.kind == "done" and "TRUNCATED (the header says 15.0 s)" in outcome.summary


def test_classic_flv_is_probed_without_seeking(tmp_path: Path, monkeypatch) -> None:
    """Some FLV files refuse `seek(0)`: probe opens the file afresh instead of seeking."""
    flv = make_classic_flv(tmp_path / "old.flv")

    def refuse(*_args, **_kwargs):
        raise av.error.PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(av.container.InputContainer, "seek", refuse)
    info = media.probe(flv)
    assert info["container"] == "flv" and info["video"]["codec"] == "flv"
    assert info["audio"]["codec"] == "adpcm_swf" and info["problems"] == []
    assert len(media.decode_audio(flv)) / 16000 == pytest.approx(2.0, abs=0.2)
