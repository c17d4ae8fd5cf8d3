"""The offline audio stages on two real First Impressions clips, against their labels."""

from __future__ import annotations

import pickle

import pytest

from bench.wer import wer
from daemon.runner import execute
from daemon.stages import diarize, prosody, speech_emotion, transcribe
from daemon.stages.extract_audio import STAGE as EXTRACT
from daemon.stages.probe import STAGE as PROBE
from tests.conftest import FI_DIR, real_clips, requires_clips

# A portrait clip and a mono ~12.5 fps clip; both transcripts match their audio.
PICKS = ("9KAqOrdiZ4I.002.mp4", "upgv7xmOb1I.002.mp4")
CHAIN = (PROBE, EXTRACT, diarize.STAGE, transcribe.STAGE, speech_emotion.STAGE, prosody.STAGE)


@pytest.mark.slow
@requires_clips
@pytest.mark.parametrize("name", PICKS)
def test_real_clip_gives_one_subject_words_and_prosody(name, make_ctx) -> None:
    path = next(p for p in real_clips() if p.name == name)
    ctx = make_ctx(path)
    kinds = [execute(stage, ctx).kind for stage in CHAIN]
    assert kinds == ["done", "done", "done", "done", "skipped", "done"]

    def read(stage: str) -> dict:
        return ctx.store.read_json(ctx.artifact_path(f"{stage}.json"))["data"]

    d = read("diarize")["summary"]
    assert d["num_speakers"] == 1 and d["subject_talk_time_s"] > 0.6 * d["duration_s"]
    with open(FI_DIR / "transcription_training.pkl", "rb") as fh:
        official = pickle.load(fh, encoding="latin1")[name]
    errors, words = wer(official, read("transcribe")["summary"]["text"])
    assert errors / words < 0.3
    p = read("prosody")["summary"]
    assert 70 < p["pitch_mean_hz"] < 400 and p["speech_rate_sps"] > 1.5
    assert p["loudness_lufs"] is not None and p["pause_count"] is not None
