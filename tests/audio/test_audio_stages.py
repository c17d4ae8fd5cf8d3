"""The audio stages end to end with the offline backends, on espeak-ng speech and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.runner import execute
from daemon.stages import diarize, prosody, speech_emotion, transcribe
from daemon.stages.extract_audio import STAGE as EXTRACT
from daemon.stages.probe import STAGE as PROBE
from storage.db import utcnow
from storage.models import Label
from tests.support.audio_helpers import ENGINEER, QUESTION, clip, espeak, requires_espeak, silence
from tests.support.media_factory import make_video, tone

AUDIO_STAGES = (diarize.STAGE, transcribe.STAGE, speech_emotion.STAGE, prosody.STAGE)


def run_chain(ctx):
    """probe -> extract_audio -> the four audio stages; the outcome of each by name."""
    outcomes = {}
    for stage in (PROBE, EXTRACT, *AUDIO_STAGES):
        outcomes[stage.name] = execute(stage, ctx)
    return outcomes


def artifact(ctx, name: str) -> dict:
    return ctx.store.read_json(ctx.artifact_path(f"{name}.json"))


@pytest.mark.slow
@requires_espeak
def test_espeak_speech_runs_the_offline_chain(tmp_path, make_ctx) -> None:
    speech = espeak(ENGINEER, tmp_path)
    path = clip(tmp_path / "one.mp4", silence(0.5), speech, silence(0.5))
    ctx = make_ctx(path)
    with ctx.db.write() as session:
        session.add(
            Label(clip_name="one.mp4", source="test", transcript=ENGINEER, imported_at=utcnow())
        )
    out = run_chain(ctx)
    assert [out[s.name].kind for s in AUDIO_STAGES] == ["done", "done", "skipped", "done"]

    diar = artifact(ctx, "diarize")
    assert diar["backend"] == "offline" and "resemblyzer" in diar["model"]
    summary = diar["data"]["summary"]
    assert summary["num_speakers"] == 1
    assert summary["subject"] == "SPEAKER_00" and summary["subject_rule"] == "most_speech"
    # The speech sits between 0.5 s of silence at either end.
    assert summary["speech_s"] == pytest.approx(len(speech) / 16000, abs=0.6)
    assert diar["data"]["turns"][0]["start"] >= 0.3
    assert diar["data"]["rttm"][0].startswith("SPEAKER one.mp4 1 ")

    tr = artifact(ctx, "transcribe")
    assert tr["backend"] == "whisper" and "tiny.en" in tr["model"]
    text = tr["data"]["summary"]["text"].lower()
    for word in ("engineer", "years", "problems", "team"):
        assert word in text
    assert tr["data"]["summary"]["official_text"] == ENGINEER
    assert tr["data"]["summary"]["language"] == "en"
    words = tr["data"]["words"]
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:], strict=False))
    assert all(w["speaker"] == "SPEAKER_00" for w in words)

    emo = artifact(ctx, "speech_emotion")
    assert emo["status"] == "skipped" and "prosody" in emo["reason"]

    pro = artifact(ctx, "prosody")["data"]
    s = pro["summary"]
    assert set(s) == set(prosody.ProsodySummary.__annotations__)
    assert 60 < s["pitch_mean_hz"] < 300
    assert -40 < s["loudness_lufs"] < -5
    assert 2.0 < s["speech_rate_sps"] < 8.0  # espeak at 160 wpm is about 4 syllables/s
    assert 1.5 < s["speech_rate_wps"] < 4.5
    assert 0 < s["hnr_db"] < 40 and 0 < s["jitter_local"] < 0.1
    assert len(pro["egemaps"]) == 88
    assert len(pro["series"]["pitch"]["t"]) == len(pro["series"]["pitch"]["hz"]) > 50


@pytest.mark.slow
@requires_espeak
def test_two_voices_give_two_speakers_and_the_longer_talker_is_the_subject(
    tmp_path, make_ctx
) -> None:
    host = espeak(QUESTION, tmp_path, voice="en+f4", pitch=85, speed=170)
    guest = espeak(ENGINEER, tmp_path, voice="en", pitch=20, speed=150)
    path = clip(tmp_path / "two.mp4", host, silence(0.6), guest, silence(0.6), guest)
    ctx = make_ctx(path)
    for stage in (PROBE, EXTRACT, diarize.STAGE):
        assert execute(stage, ctx).kind in ("done",)
    data = artifact(ctx, "diarize")["data"]
    summary = data["summary"]
    assert summary["num_speakers"] == 2
    # The guest speaks twice as long and second: the subject is not simply the first voice.
    assert summary["subject"] == "SPEAKER_01"
    assert summary["speakers"][0]["speaker"] == "SPEAKER_01"
    host_end = len(host) / 16000
    first = data["turns"][0]
    assert first["speaker"] == "SPEAKER_00" and abs(first["end"] - host_end) < 0.5


def _expect_all_skipped(ctx, fragment: str) -> None:
    out = run_chain(ctx)
    assert out["diarize"].kind == "skipped", out["diarize"].message
    assert fragment in out["diarize"].message
    for stage in AUDIO_STAGES[1:]:
        assert out[stage.name].kind == "skipped"
        assert fragment in out[stage.name].message


def test_silence_is_skipped_as_no_speech(tmp_path, make_ctx) -> None:
    ctx = make_ctx(clip(tmp_path / "quiet.mp4", silence(3.0)))
    _expect_all_skipped(ctx, "no speech was detected")


def test_tones_only_are_skipped_as_no_speech(tmp_path, make_ctx) -> None:
    music = np.concatenate([tone(1.0, freq=f, amp=0.3) for f in (262, 330, 392, 523)])
    ctx = make_ctx(clip(tmp_path / "tones.mp4", music))
    _expect_all_skipped(ctx, "no speech was detected")


def test_very_short_audio_is_skipped(tmp_path, make_ctx) -> None:
    ctx = make_ctx(clip(tmp_path / "blip.mp4", tone(0.1, amp=0.3)))
    _expect_all_skipped(ctx, "too short")


def test_video_without_audio_skips_every_audio_stage(tmp_path, make_ctx) -> None:
    ctx = make_ctx(make_video(tmp_path / "mute.mp4", seconds=1.0))
    _expect_all_skipped(ctx, "no audio track")


@requires_espeak
def test_heavily_clipped_audio_fails_permanently(tmp_path, make_ctx) -> None:
    speech = espeak(ENGINEER, tmp_path)
    loud = np.clip(speech * 40.0, -1.0, 1.0)
    ctx = make_ctx(clip(tmp_path / "clipped.mp4", loud))
    for stage in (PROBE, EXTRACT):
        execute(stage, ctx)
    out = execute(diarize.STAGE, ctx)
    assert out.kind == "permanent"
    assert "clipped" in out.message and "lower gain" in out.message


def test_backends_are_listed_with_the_offline_ones_active(config) -> None:
    rows = [r for s in AUDIO_STAGES if s.backends for r in s.backends(config)]
    by = {(r.stage, r.name): r for r in rows}
    assert by[("diarize", "offline")].active and by[("diarize", "offline")].available
    assert not by[("diarize", "pyannote")].available
    assert by[("transcribe", "whisper")].active and by[("transcribe", "whisper")].available
    assert not by[("transcribe", "sensevoice")].active
    assert by[("speech_emotion", "none")].active
    language_id = by[("transcribe", "language id")]
    assert language_id.active and "whisper base multilingual" in language_id.model
    assert sum(r.active for r in rows) == 4  # the language identifier beside the ASR model


def test_an_explicit_backend_without_weights_fails_with_a_hint(tmp_path, make_ctx) -> None:
    ctx = make_ctx(clip(tmp_path / "t.mp4", tone(1.0)))
    ctx.config.audio.diarize_backend = "pyannote"
    ctx.config.audio.pyannote_model = str(tmp_path / "nowhere")
    for stage in (PROBE, EXTRACT):
        execute(stage, ctx)
    out = execute(diarize.STAGE, ctx)
    assert out.kind == "permanent" and "audio.pyannote_model" in out.message
