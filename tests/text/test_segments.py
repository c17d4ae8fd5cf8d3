"""Long videos as clip-sized segments: where the cuts fall, what each segment's
description holds, and how segment scores and intervals add up to the video's."""

from __future__ import annotations

import math

import pytest

from daemon.learn import segment_scores as seg
from daemon.text.describe import (
    PROFILE_FULL,
    PROFILE_TRANSCRIPT_ONLY,
    DescribeInputs,
    StageInput,
    build_description,
)
from daemon.text.segments import Segment, plan_segments, segment_inputs, subject_words
from storage.models import TARGETS
from storage.states import StageStatus

DONE = StageStatus.DONE


def test_a_clip_as_long_as_the_training_clips_is_not_cut() -> None:
    assert plan_segments(15.3, [(0.5, 14.0)], 15.0, 30.0) == []
    assert plan_segments(30.0, [(0.5, 29.0)], 15.0, 30.0) == []


def test_cuts_fall_in_the_subjects_pauses_and_cover_the_whole_video() -> None:
    # The subject speaks 4.5 s, pauses 0.5 s, over and over: a pause every 5 s.
    turns = [(t, t + 4.5) for t in range(0, 245, 5)]
    plan = plan_segments(245.0, turns, 15.0, 30.0)
    assert plan[0].start == 0.0 and plan[-1].end == 245.0
    for a, b in zip(plan, plan[1:], strict=False):
        assert a.end == b.start
    for s in plan[:-1]:
        assert math.isclose(s.end % 5, 4.75, abs_tol=1e-6)  # the middle of a pause
        assert 7.5 <= s.length_s <= 22.5
    assert plan[-1].length_s >= 7.5
    assert [s.index for s in plan] == list(range(len(plan)))


def test_without_pauses_the_cut_falls_at_the_segment_length() -> None:
    plan = plan_segments(100.0, [(0.0, 100.0)], 15.0, 30.0)
    assert [s.start for s in plan] == [0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0]
    assert plan[-1].end == 100.0 and plan[-1].length_s == 10.0


def _long_inputs() -> tuple[DescribeInputs, dict, dict]:
    turns = [
        {"start": 0.0, "end": 10.0, "speaker": "SPEAKER_00"},
        {"start": 10.5, "end": 14.0, "speaker": "SPEAKER_01"},
        {"start": 15.0, "end": 40.0, "speaker": "SPEAKER_00"},
    ]
    diarize = {
        "turns": turns,
        "summary": {"subject": "SPEAKER_00", "subject_rule": "most_speech", "num_speakers": 2},
    }
    words = [
        {"start": i * 0.5, "end": i * 0.5 + 0.4, "word": f"w{i}", "speaker": "SPEAKER_00"}
        for i in range(80)
        if not 20 <= i < 30
    ] + [{"start": 11.0, "end": 11.4, "word": "interviewer", "speaker": "SPEAKER_01"}]
    transcribe = {"subject": "SPEAKER_00", "words": sorted(words, key=lambda w: w["start"])}
    summaries = {
        "diarize": {"num_speakers": 2, "subject": "SPEAKER_00", "subject_talk_time_s": 35.0},
        "transcribe": {"text": "all the words", "word_count": 70, "language": "en"},
        "prosody": {"pause_count": 40, "pauses_per_min": 6.0, "pitch_mean_hz": 180.0},
    }
    stages = {name: StageInput(DONE, summary) for name, summary in summaries.items()}
    probe = {"duration_s": 40.0, "video": {"width": 640, "height": 480, "fps": 25.0}}
    return (
        DescribeInputs(probe, stages, official_transcript="the official words"),
        diarize,
        transcribe,
    )


def test_a_segment_has_its_own_length_words_and_speaker_turns() -> None:
    inputs, diarize, transcribe = _long_inputs()
    segment = Segment(0, 0.0, 12.0)
    own = segment_inputs(inputs, segment, diarize, transcribe)
    assert own.probe["duration_s"] == 12.0
    assert own.official_transcript is None  # the official text is the whole video's
    text = own.summary("transcribe")["text"].split()
    assert text == [f"w{i}" for i in range(20)]  # the interviewer's word is not the subject's
    assert own.summary("transcribe")["word_count"] == 20
    speakers = own.summary("diarize")
    assert speakers["subject"] == "SPEAKER_00" and speakers["num_speakers"] == 2
    assert speakers["subject_talk_time_s"] == 10.0
    assert own.summary("prosody")["pause_count"] == 12  # 40 over 40 s, prorated to 12 s
    assert own.summary("prosody")["pauses_per_min"] == 6.0  # rates are kept
    full = build_description(own, max_tokens=1024)
    assert "The video lasts 12.0 s" in full and "20 words" in full


def test_words_without_timestamps_are_spread_over_their_utterance() -> None:
    transcribe = {
        "subject": "A",
        "words": [],
        "segments": [{"start": 0.0, "end": 20.0, "text": "one two three four", "speaker": "A"}],
    }
    assert subject_words(transcribe, Segment(0, 0.0, 10.0)) == ["one", "two"]
    assert subject_words(transcribe, Segment(1, 10.0, 20.0)) == ["three", "four"]


def _item(i: int, score: float, speech: float = 10.0) -> seg.SegmentScore:
    return seg.SegmentScore(
        index=i,
        start=i * 15.0,
        end=(i + 1) * 15.0,
        speech_s=speech,
        words=30,
        scores={t: score for t in TARGETS},
        reasons={t: [{"section": "transcript", "contribution": score - 0.5}] for t in TARGETS},
    )


def test_the_video_score_is_the_speech_weighted_mean_of_its_segments() -> None:
    items = [_item(0, 0.4, 10.0), _item(1, 0.6, 30.0), _item(2, 0.9, 0.0)]
    scores = seg.aggregate_scores(items)
    assert scores["openness"] == pytest.approx(0.55)  # the silent segment does not count
    assert seg.counted(items) == items[:2]
    reasons = seg.aggregate_reasons(items)
    assert reasons["openness"][0]["contribution"] == pytest.approx(0.0)


def test_the_video_interval_adds_the_spread_between_segments() -> None:
    widths = {t: 0.1 for t in TARGETS}
    agree = [_item(i, 0.5) for i in range(8)]
    assert seg.aggregate_halfwidths(agree, widths, 0.9)["openness"] == pytest.approx(0.1)
    differ = [_item(i, 0.3 + 0.4 * (i % 2)) for i in range(8)]
    sd = seg.spread(differ)["openness"]
    from scipy.stats import t as student_t

    expected = 0.1 + student_t.ppf(0.95, 7) * sd / math.sqrt(8)
    assert seg.aggregate_halfwidths(differ, widths, 0.9)["openness"] == pytest.approx(expected)
    assert seg.aggregate_halfwidths([_item(0, 0.5)], widths, 0.9)["openness"] == 0.1


def test_segment_json_keeps_scores_intervals_and_top_reasons() -> None:
    item = _item(3, 0.5)
    item.widths = {t: 0.2 for t in TARGETS}
    out = item.to_json()
    assert out["index"] == 3 and out["intervals"]["openness"] == [0.3, 0.7]
    assert set(out["scores"]) == set(TARGETS)


def test_transcript_only_profile_per_segment_quotes_only_its_words() -> None:
    from daemon.stages.describe import transcript_only_text

    inputs, diarize, transcribe = _long_inputs()
    own = segment_inputs(inputs, Segment(1, 12.0, 40.0), diarize, transcribe)
    text, source = transcript_only_text(own, None, 1024)
    assert source == "automatic transcript"
    assert '"w30 w31' in text and "w19" not in text
    assert PROFILE_FULL != PROFILE_TRANSCRIPT_ONLY
