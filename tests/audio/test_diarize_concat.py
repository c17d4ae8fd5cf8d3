"""Offline diarization separates the voices it can hear: concatenations of the real First
Impressions clips (one person each) give about the right number of speakers and a low
diarization error rate, repeated voices are not split, and each clip alone is one speaker."""

from __future__ import annotations

import numpy as np
import pytest

from bench.diarization import arrangements, load_parts, run_offline
from daemon.audio.diarization_eval import Part, concatenate, score, split_at_pauses
from daemon.audio.offline_diarize import cluster, speech_credit
from daemon.config import AudioConfig
from tests.conftest import real_clips, requires_clips


@pytest.fixture(scope="module")
def parts(model_cache) -> list[Part]:
    return load_parts(real_clips(), model_cache, AudioConfig().vad_threshold)


@pytest.fixture(scope="module")
def scored(parts, model_cache) -> dict[str, dict]:
    cfg = AudioConfig()
    return {
        name: score(concat.reference, run_offline(model_cache, concat.samples, cfg))
        for name, concat in arrangements(parts).items()
    }


@pytest.mark.slow
@requires_clips
@pytest.mark.parametrize("name", ["distinct", "halves", "interview", "panel"])
def test_concatenation_count_and_error_rate(scored, name) -> None:
    r = scored[name]
    assert abs(r["found_speakers"] - r["true_speakers"]) <= 0.3 * r["true_speakers"], r
    assert r["collar_0.25"]["der"] < 0.2, r
    assert r["collar_0"]["der"] < 0.2, r


@pytest.mark.slow
@requires_clips
def test_the_distinct_arrangement_holds_every_shared_clip(scored, parts) -> None:
    assert scored["distinct"]["true_speakers"] == len(parts) >= 12


@pytest.mark.slow
@requires_clips
def test_each_clip_alone_is_one_speaker(parts, model_cache) -> None:
    cfg = AudioConfig()
    found = {p.speaker: len({t["speaker"] for t in run_offline(model_cache, p.samples, cfg)})
             for p in parts}  # fmt: skip
    assert set(found.values()) == {1}, found


def test_concatenate_keeps_the_truth_in_place() -> None:
    a = Part("a", np.ones(16000, dtype=np.float32), ((0.1, 0.9),))
    b = Part("b", np.ones(8000, dtype=np.float32), ((0.0, 0.5),))
    c = concatenate([a, b, a], 16000, gap_s=0.5)
    assert len(c.samples) == 16000 + 8000 + 16000 + 2 * 8000
    assert c.reference == [(0.1, 0.9, "a"), (1.5, 2.0, "b"), (2.6, 3.4, "a")]
    assert c.speakers == ["a", "b"]


def test_split_at_pauses_cuts_in_the_pause() -> None:
    samples = np.ones(16000 * 4, dtype=np.float32)
    first, second = split_at_pauses("a", samples, 16000, [(0.0, 1.8), (2.4, 4.0)], 2)
    assert len(first.samples) == 33600 and first.speech == ((0.0, 1.8),)
    assert len(second.speech) == 1 and second.speech[0] == pytest.approx((0.3, 1.9))


def test_score_counts_speakers_and_maps_labels() -> None:
    reference = [(0.0, 5.0, "a"), (5.0, 10.0, "b")]
    same = [{"start": 0.0, "end": 5.0, "speaker": "X"}, {"start": 5.0, "end": 10.0, "speaker": "Y"}]
    r = score(reference, same)
    assert r["found_speakers"] == r["true_speakers"] == 2 and r["collar_0"]["der"] == 0.0
    merged = score(reference, [{"start": 0.0, "end": 10.0, "speaker": "X"}])
    assert merged["found_speakers"] == 1 and merged["collar_0"]["confusion"] == pytest.approx(0.5)


def test_a_quiet_voice_with_enough_speech_is_kept_in_a_long_recording() -> None:
    rng = np.random.default_rng(0)
    loud, quiet = rng.standard_normal(256), rng.standard_normal(256)
    emb = np.stack([loud + 0.01 * rng.standard_normal(256) for _ in range(200)]
                   + [quiet + 0.01 * rng.standard_normal(256) for _ in range(8)])  # fmt: skip
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    windows = [(i * 40, i * 40 + 160) for i in range(len(emb))]
    credit = speech_credit(windows, [(0.0, len(emb) * 0.4 + 1.2)])
    assert credit.sum() == pytest.approx(len(emb) * 0.4 + 1.2, abs=0.02)
    labels = cluster(emb, 0.4, 0.0, credit=credit)
    assert len(set(labels[:200])) == 1 and len(set(labels[200:])) == 1
    assert labels[0] != labels[-1]  # 3.2 s of 83 s: kept, though under 4 % of the speech
    assert len(set(cluster(emb[196:], 0.4, 0.0, credit=credit[196:]))) == 1  # under 2 s
