"""Hand-made transcript measures, the encoding cache and the ridge heads end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from daemon.learn.text_features import (
    WORD_KNOTS,
    FeatureScaler,
    expanded,
    feature_matrix,
    feature_names,
    features,
    transcript_of,
)
from daemon.text.describe import transcript_only_description
from storage.models import TARGETS
from tests.learn.test_learn_tiny import add_labelled, tiny_model, tiny_train_config  # noqa: F401

FULL_STYLE = (
    "About: a video.\n\nWhat was said (automatic transcript, English, 6 words; 2.0 words per "
    'second of video, faster than most):\n"I love my job. Really! Why?"'
)


def column(row: list[float], name: str) -> float:
    return row[feature_names().index(name)]


def test_transcript_and_rate_are_read_from_both_profiles():
    quote, rate = transcript_of(transcript_only_description("We did it, we won."))
    assert (quote, rate) == ("We did it, we won.", None)
    assert transcript_of(FULL_STYLE) == ("I love my job. Really! Why?", 2.0)
    assert transcript_of("About: nothing was said.") == ("", None)


def test_measures_count_words_categories_and_sentiment():
    row = features(FULL_STYLE)
    assert len(row) == len(feature_names())
    assert column(row, "log_words") == pytest.approx(np.log1p(6))
    assert column(row, "speaking_rate") == 2.0 and column(row, "rate_known") == 1.0
    assert column(row, "cat_i") == pytest.approx(2 / 6)  # "I", "my"
    assert column(row, "cat_work") == pytest.approx(1 / 6)  # "job"
    assert column(row, "nrc_joy") > 0.0  # "love" is a joy word in the NRC lexicon
    assert column(row, "vader_compound") > 0.3
    assert column(row, "questions") == pytest.approx(1 / 3)
    sad = features(transcript_only_description("I hate this, it is awful and sad."))
    assert column(sad, "vader_compound") < -0.3 and column(sad, "nrc_sadness") > 0.0


def test_empty_and_odd_descriptions_give_zeros_not_errors():
    for text in ("", "What was said: nothing, because the transcript is empty.", "\x00 ???"):
        row = features(text)
        assert len(row) == len(feature_names())
        assert column(row, "log_words") == 0.0 and all(np.isfinite(row))


def test_word_knots_bend_only_below_each_count():
    texts = [transcript_only_description(" ".join(["word"] * n)) for n in (3, 25, 100)]
    hinges = expanded(feature_matrix(texts))[:, -len(WORD_KNOTS) :]
    assert (hinges[2] == 0).all()  # 100 words: past every knot
    assert (hinges[0] > 0).all()  # 3 words: below every knot
    assert (hinges[1] > 0).sum() == sum(k > 25 for k in WORD_KNOTS)


def test_scaler_standardises_training_rows_and_survives_constant_columns():
    texts = [transcript_only_description(" ".join(["fine"] * n)) for n in range(1, 30)]
    scaler = FeatureScaler.fit(texts)
    x = scaler.transform(texts)
    assert np.isfinite(x).all()
    varying = x.std(axis=0) > 0
    assert np.allclose(x.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(x.std(axis=0)[varying], 0.2)


class CountingEncoder:
    """A fake encoder (test only) that remembers which texts it was asked to encode."""

    key, description = "counting", "counting"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += list(texts)
        return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)


def test_encoding_cache_encodes_each_text_once(tmp_path):
    from daemon.learn.encoders import encode_cached

    enc = CountingEncoder()
    first = encode_cached(enc, ["a", "bb", "a"], tmp_path)
    assert sorted(enc.seen) == ["a", "bb"]
    again = encode_cached(enc, ["bb", "cac", "a"], tmp_path)
    assert enc.seen[2:] == ["cac"]
    assert first.tolist() == [[1, 1], [2, 0], [1, 1]]
    assert again.tolist() == [[2, 0], [3, 1], [1, 1]]
    assert len(list(tmp_path.iterdir())) == 1


WORDS = {"wonderful": 0.2, "happy": 0.1, "terrible": -0.2, "sad": -0.1}


def transcript_rows(n: int, seed: int = 0):
    """Transcript-only descriptions whose sentiment and length drive the scores."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        word = rng.choice(sorted(WORDS))
        length = rng.randint(3, 60)
        level = 0.5 + WORDS[word] + (0.1 if length > 30 else -0.1)
        scores = {t: min(1.0, max(0.0, level + rng.gauss(0, 0.02))) for t in TARGETS}
        text = f"It was {word}. " + " ".join(
            rng.choice(["and", "then", "so"]) for _ in range(length)
        )
        split = "validation" if i % 5 == 0 else "train"
        rows.append(
            (f"yt{i // 2:04d}.{i % 2:03d}.mp4", split, transcript_only_description(text), scores)
        )
    return rows


@pytest.mark.parametrize("heads", [["text_features"], ["llm_embedding", "ensemble"]])
def test_ridge_heads_train_promote_and_reload(config, database, tiny_model, heads):  # noqa: F811
    from daemon.learn import registry
    from daemon.learn.predictor import load_predictor
    from daemon.learn.trainer import encodings_dir, run_training

    tiny_train_config(config, tiny_model, heads)
    rows = transcript_rows(150)
    add_labelled(database, rows)
    messages = run_training(config, database, "t1", "cpu")
    versions = registry.all_versions(database)
    assert sorted(v.kind for v in versions) == sorted(heads), messages
    for v in versions:
        assert v.val_mean_accuracy > registry.baseline_accuracy(v), messages
        manifest = json.loads((Path(v.path) / "manifest.json").read_text())
        assert manifest["kind"] == v.kind and "text measures" in v.base_model
        intervals = json.loads(v.metrics_json)["intervals"]  # calibrated on the holdout
        assert 0.5 < intervals["validation"]["mean_coverage"] <= 1.0
        predictor = load_predictor(Path(v.path), "cpu")
        texts = [r[2] for r in rows[:10]]
        assert predictor.predict(texts) == predictor.predict(texts)
    assert registry.promoted(database, "transcript_only") is not None
    if "llm_embedding" in heads:
        assert any(encodings_dir(config).iterdir())  # the LLM's vectors were cached


def test_ridge_folders_saved_before_the_text_measures_still_load(tmp_path):
    from daemon.learn.encoders import MINILM, encoders_manifest
    from daemon.learn.heads.ridge import RidgeModel

    coef = np.zeros((len(TARGETS), 2))
    coef[:, 0] = 0.1
    np.savez(tmp_path / "ridge.npz", coef=coef, intercept=np.full(len(TARGETS), 0.2))
    model = RidgeModel.load(tmp_path, [CountingEncoder()])
    assert model.scaler is None
    assert model.predict(["abc"])[0] == pytest.approx(dict.fromkeys(TARGETS, 0.5))
    assert encoders_manifest([]) == {"encoders": []} and MINILM == "minilm"


def test_llm_vectors_are_standardised_and_the_scaling_is_saved(tmp_path):
    from daemon.learn.heads.ridge import RidgeModel, VectorScaler

    spreads = np.array([0.01, 1.0, 100.0])  # hidden states: a few huge dimensions
    vectors = np.random.default_rng(0).normal(5.0, spreads, size=(400, 3))
    scaler = VectorScaler.fit(vectors)
    standard = scaler.transform(vectors)
    assert np.allclose(standard.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(standard.std(axis=0), 1 / np.sqrt(3))  # every dimension counts alike
    assert (standard**2).sum(axis=1).mean() == pytest.approx(1.0)  # like a unit vector

    coef = np.full((len(TARGETS), 2), 0.05)
    texts = ["abc", "a much longer text with a few a's"]
    vector_scaler = VectorScaler(np.array([10.0, 1.0]), np.array([20.0, 2.0]))
    model = RidgeModel([CountingEncoder()], None, coef, np.full(len(TARGETS), 0.5), [vector_scaler])
    model.save(tmp_path)
    loaded = RidgeModel.load(tmp_path, [CountingEncoder()])
    assert loaded.predict(texts) == model.predict(texts)
    unscaled = RidgeModel([CountingEncoder()], None, coef, np.full(len(TARGETS), 0.5))
    assert unscaled.predict(texts) != model.predict(texts)  # the scaling was applied
