"""The range of a model's training inputs and the check that flags inputs outside it."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from daemon.learn.input_range import (
    RANGE_FILE,
    VECTORS_FILE,
    Flag,
    InputRange,
    check,
    flags_from_json,
    flags_to_json,
    guess_not_english,
    input_vector,
    load,
    stated_language,
    withhold_intervals,
    word_count,
)
from daemon.text.describe import DescribeInputs, build_description, transcript_only_description
from tests.text.test_describe_text import PROBE, TRANSCRIBE, full_inputs

WORDS = "so I think that the job is about people and what we do every day at work".split()


def transcript(n: int, seed: int = 0) -> str:
    """An English transcript of `n` words."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def fi_like(n_rows: int = 60) -> InputRange:
    """A range recorded from transcript-only texts of 0 to 95 words, as First Impressions."""
    texts = [
        transcript_only_description(transcript(i * 95 // (n_rows - 1), i)) for i in range(n_rows)
    ]
    return InputRange.from_texts(texts)


def full_text(duration_s: float = 15.3, fps: float = 29.97, **overrides: dict) -> str:
    """A full-profile description whose video lasts `duration_s` at `fps` frames a second."""
    stages = full_inputs(**overrides).stages
    probe = {**PROBE, "duration_s": duration_s, "video": {**PROBE["video"], "fps": fps}}
    return build_description(DescribeInputs(probe, stages))


def test_word_counts_are_read_from_both_profiles() -> None:
    assert word_count(transcript_only_description(transcript(42))) == 42
    assert word_count(full_text()) == 17  # "automatic transcript, English, 17 words; ..."
    assert word_count(transcript_only_description("")) == 0  # "What was said: nothing"
    assert word_count("Video: The video lasts 15.3 s.") is None  # no transcript section
    # A transcript cut to fit the budget still counts every word that was said.
    cut = transcript_only_description(transcript(586), max_tokens=200)
    assert "shortened" in cut and word_count(cut) == 586


def test_a_short_transcript_passes_and_a_long_one_is_flagged_with_the_reason() -> None:
    trained = fi_like()
    assert trained.words is not None and (trained.words.lo, trained.words.hi) == (0, 95)
    assert check(trained, transcript_only_description(transcript(42))) == []
    flags = check(trained, transcript_only_description(transcript(586)))
    assert flags == [
        Flag("transcript_length", "transcript 586 words; training transcripts 0-95 words")
    ]


def test_another_language_is_flagged_whether_stated_given_or_guessed() -> None:
    trained = fi_like()
    assert trained.languages == ["English"]  # official transcripts state none: assumed
    chinese = full_text(transcribe={**TRANSCRIBE, "language": "zh"})
    assert stated_language(chinese) == "Chinese" and stated_language(full_text()) == "English"
    assert check(trained, chinese) == [
        Flag("language", "language Chinese; training transcripts English")
    ]
    english = transcript_only_description(transcript(30))
    assert check(trained, english) == [] and check(trained, english, language="en") == []
    (flag,) = check(trained, english, language="de")
    assert flag.reason == "language German; training transcripts English"
    han = transcript_only_description("我今天想谈谈我最喜欢的书，以及为什么我一直在重读它们。")
    assert "mostly CJK letters" in check(trained, han)[0].reason
    spanish = "Hoy quiero hablar de mis libros favoritos y de por qué los sigo leyendo una vez"
    assert guess_not_english(transcript_only_description(spanish)) is not None
    assert guess_not_english(english) is None


def test_a_model_trained_on_chinese_transcripts_takes_them() -> None:
    chinese = full_text(transcribe={**TRANSCRIBE, "language": "zh"})
    trained = InputRange.from_texts([chinese] * 3)
    assert trained.languages == ["Chinese"] and check(trained, chinese) == []
    assert check(trained, full_text())[0].reason == (
        "language English; training transcripts Chinese"
    )


def test_duration_and_other_measures_outside_the_training_videos_are_flagged() -> None:
    texts = [
        full_text(14.8 + 0.8 * i / 29, prosody={**_prosody(), "loudness_lufs": -25.0 + i / 5})
        for i in range(30)
    ]
    trained = InputRange.from_texts(texts)
    assert check(trained, full_text(15.0)) == []
    flags = check(trained, full_text(245.0))
    duration = [f for f in flags if f.kind == "duration"]
    assert duration == [Flag("duration", "duration 245.0 s; training videos 14.8-15.6 s")]
    loud = full_text(15.0, prosody={**_prosody(), "loudness_lufs": -45.0})
    (flag,) = [f for f in check(trained, loud) if f.kind.startswith("measure:")]
    assert flag.reason == "loudness (lufs) -45; training videos -25 to -19.2"
    # Every training video ran at 30 frames a second: a constant no head learned from.
    assert "60 frames per second" in full_text(fps=60) and check(trained, full_text(fps=60)) == []


def _prosody() -> dict:
    from tests.text.test_describe_text import PROSODY

    return PROSODY


def cluster(n: int, seed: int, spread: float = 0.1) -> np.ndarray:
    """Unit vectors near one direction of an 8-dimensional space."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, 8)) + np.eye(8)[0] + rng.normal(0, spread, (n, 8))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_encoder_distance_flags_a_vector_far_from_every_training_row() -> None:
    texts = [transcript_only_description(transcript(30, i)) for i in range(300)]
    trained = InputRange.from_texts(texts, cluster(300, 1))
    near = cluster(200, 2)
    flagged = sum(bool(check(trained, texts[0], v)) for v in near)
    assert flagged <= 4  # fresh rows like the training rows pass
    (flag,) = check(trained, texts[0], np.eye(8)[3])
    assert flag.kind == "encoder_distance"
    pattern = r"encoder distance 0\.[5-9]\d to the nearest training row; 99 % of training rows "
    assert re.fullmatch(pattern + r"lie within 0\.0\d, flagged beyond 0\.0\d", flag.reason)
    assert check(trained, texts[0]) == []  # no vector: no encoder check


def test_save_and_load_round_trip_and_old_folders_have_no_range(tmp_path: Path) -> None:
    texts = [full_text(15.0 + i / 10) for i in range(25)]
    trained = InputRange.from_texts(texts, cluster(25, 3))
    trained.save(tmp_path)
    assert (tmp_path / VECTORS_FILE).exists()
    again = load(tmp_path)
    assert again is not None and again.encoder is not None
    assert (again.words, again.languages, again.measures) == (
        trained.words,
        trained.languages,
        trained.measures,
    )
    assert again.encoder.threshold == pytest.approx(trained.encoder.threshold)
    probe = full_text(300.0)
    assert check(again, probe, np.eye(8)[2]) == check(trained, probe, np.eye(8)[2])
    old = tmp_path / "old"
    old.mkdir()
    assert load(old) is None and check(load(old), probe) == []


def test_flags_serialise_and_withhold_the_intervals() -> None:
    flags = [Flag("duration", "duration 245.0 s; training videos 14.8-15.6 s")]
    assert flags_from_json(json.loads(json.dumps(flags_to_json(flags)))) == flags
    intervals = {"openness": [0.4, 0.6]}
    assert withhold_intervals(intervals, []) == (intervals, None)
    shown, why = withhold_intervals(intervals, flags)
    assert shown is None and why is not None and "245.0 s" in why


def test_trained_models_record_their_range(config, database) -> None:
    from daemon.learn import registry
    from daemon.learn.predictor import load_predictor
    from daemon.learn.trainer import run_training
    from tests.learn.test_learn_tiny import add_labelled
    from tests.learn.test_text_features import transcript_rows

    add_labelled(database, transcript_rows(120))
    t = config.train
    t.heads, t.profiles, t.min_train_rows = ["numeric", "embedding"], ["transcript_only"], 8
    run_training(config, database, "r1", "cpu")
    folders = {v.kind: Path(v.path) for v in registry.all_versions(database)}
    assert sorted(folders) == ["embedding", "numeric"]
    for kind, folder in folders.items():
        saved = json.loads((folder / RANGE_FILE).read_text())
        assert saved["languages"] == ["English"] and saved["words"]["hi"] <= 63
        assert (folder / VECTORS_FILE).exists() == (kind == "embedding")
    predictor = load_predictor(folders["embedding"])
    inside = transcript_rows(1)[0][2]
    vector = input_vector(predictor, inside)
    assert vector is not None and vector.shape == (384,)
    assert check(load(folders["embedding"]), inside, vector) == []
    assert input_vector(load_predictor(folders["numeric"]), inside) is None
    long = transcript_only_description(transcript(586))
    kinds = {f.kind for f in check(load(folders["embedding"]), long, input_vector(predictor, long))}
    assert "transcript_length" in kinds


def test_a_blend_checks_with_the_vectors_of_its_ridge_part(tmp_path: Path) -> None:
    from daemon.learn.heads.blend import BlendModel
    from daemon.learn.heads.ridge import RidgeModel
    from daemon.learn.input_range import record
    from tests.learn.test_text_features import CountingEncoder

    ridge = RidgeModel([CountingEncoder()], None, np.zeros((6, 2)), np.zeros(6))
    texts = [transcript_only_description(transcript(20 + i, i)) for i in range(30)]
    part = tmp_path / "parts" / "0"
    part.mkdir(parents=True)
    assert record(part, ridge, texts).encoder is not None  # CountingEncoder: 2 numbers
    mixed = BlendModel([part, tmp_path / "parts" / "1"], {}, lambda _folder: ridge)
    saved = record(tmp_path, mixed, texts)  # no vectors of its own: its ridge part's
    assert saved.encoder is not None and load(tmp_path).encoder is not None
    vector = input_vector(mixed, texts[0])
    assert vector.shape == (2,) and np.linalg.norm(vector) == pytest.approx(1.0)
    assert check(saved, texts[0], vector) == []
