"""Golden texts, budget trimming and robustness of the description template."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.features import FaceSummary, ProsodySummary
from daemon.text.describe import (
    TEMPLATE_VERSION,
    DescribeInputs,
    StageInput,
    build_description,
    transcript_only_description,
)
from daemon.text.fmt import clean_age_range, clean_label, estimate_tokens
from daemon.text.norms import load_norms, parse_norms

PROBE = {
    "container": "mov,mp4,m4a,3gp,3g2,mj2",
    "size_bytes": 2615929,
    "duration_s": 15.324,
    "video": {
        "codec": "h264",
        "width": 1280,
        "height": 720,
        "fps": 29.97,
        "frames": 459,
        "duration_s": 15.3,
    },
    "audio": {"codec": "aac", "sample_rate": 44100, "channels": 2, "duration_s": 15.3},
    "problems": [],
}
DIARIZE = {
    "num_speakers": 1,
    "subject": "SPEAKER_00",
    "subject_rule": "most_speech",
    "subject_talk_time_s": 13.9,
    "speech_s": 13.9,
    "duration_s": 15.324,
    "speakers": [{"speaker": "SPEAKER_00", "talk_time_s": 13.9, "share": 1.0}],
}
TRANSCRIBE = {
    "text": "So today I want to talk about my favourite books, and why I keep reading them again.",
    "language": "en",
    "word_count": 17,
    "official_text": None,
    "events": ["laughter"],
}
EMOTION = {
    "distribution": {"neutral": 0.62, "happy": 0.21, "sad": 0.08, "angry": 0.03},
    "dominant": ["neutral", "happy"],
    "changes_per_min": 2.0,
}
PROSODY = {
    "pitch_mean_hz": 212.4,
    "pitch_sd_semitones": 3.1,
    "pitch_range_semitones": 9.5,
    "loudness_lufs": -19.2,
    "loudness_sd_db": 4.5,
    "speech_rate_wps": 3.1,
    "speech_rate_sps": 4.6,
    "speech_rate_source": "transcript",
    "pause_count": 4,
    "pause_mean_s": 0.52,
    "pauses_per_min": 16.0,
    "speech_ratio": 0.86,
    "jitter_local": 0.012,
    "shimmer_local": 0.051,
    "hnr_db": 12.0,
    "voiced_share": 0.63,
}
FACE = {
    "frames_sampled": 46,
    "face_share": 0.98,
    "max_faces": 1,
    "subject_rule": "largest",
    "smile_mean": 0.35,
    "smile_share": 0.4,
    "brow_raise_mean": 0.2,
    "eye_openness_mean": 0.6,
    "blinks_per_min": 22.0,
    "eye_contact_share": 0.72,
    "head_yaw_mean_deg": -5.2,
    "head_pitch_mean_deg": 3.1,
    "head_roll_mean_deg": 1.9,
    "head_movement_deg_per_s": 12.0,
    "nods_per_min": 3.0,
    "expressions": {"neutral": 0.55, "happy": 0.30, "surprise": 0.08, "sad": 0.02},
    "dominant_expressions": ["neutral", "happy"],
    "expression_changes_per_min": 3.0,
    "facial_actions": {
        "smile": 0.4,
        "brow raise": 0.12,
        "brow lowering": 0.02,
        "lip press": 0.06,
        "jaw drop": 0.3,
    },
    "body_motion": 0.2,
    "face_width_share": 0.22,
    "face_center_offset": 0.1,
    "brightness": 0.5,
    "apparent_age": 28.0,
    "apparent_age_range": "25-32",
    "apparent_gender": "female",
    "apparent_gender_confidence": 0.91,
    "glasses": False,
}

ANALYSIS = ("diarize", "transcribe", "speech_emotion", "prosody", "analyze_face")
SUMMARIES = {
    "diarize": DIARIZE,
    "transcribe": TRANSCRIBE,
    "speech_emotion": EMOTION,
    "prosody": PROSODY,
    "analyze_face": FACE,
}


def full_inputs(**overrides: dict) -> DescribeInputs:
    """Every stage done, with the fixture summaries (some replaced by `overrides`)."""
    stages = {"extract_audio": StageInput("done", {})}
    stages.update({k: StageInput("done", overrides.get(k, v)) for k, v in SUMMARIES.items()})
    return DescribeInputs(PROBE, stages)


GOLDEN_FULL = """\
Video:
- The video lasts 15.3 s, 1280x720 pixels, 30 frames per second.
- 1 speaker was detected; the subject talks for 13.9 s, 91% of the video.
- Apparent age 25-32 years and apparent gender female.

What was said (automatic transcript, English, 17 words; 1.1 words per second of video, far fewer words than most First Impressions speakers):
"So today I want to talk about my favourite books, and why I keep reading them again."
Sounds tagged in the audio: laughter.

How it was said:
- Speaking rate: 4.6 syllables per second of speech (a typical articulation rate), 3.1 words per second.
- Pauses: 4 pauses (16.0 per minute), 0.52 s on average (typical pause length), speech fills 86% of the talking time.
- Pitch: mean 212 Hz (typical for a woman's voice), varying by 3.1 semitones (typical variation), range 9.5 semitones.
- Loudness: -19.2 LUFS (a typical level for online video), varying by 4.5 dB over the speech.
- Voice quality: jitter 1.20%, shimmer 5.1%, harmonics-to-noise ratio 12.0 dB, 63% of the audio frames voiced.
- Emotion heard in the voice: neutral 62%, happy 21%, sad 8%; the leading emotion changes 2.0 times per minute.

Face:
- The face is visible in 98% of 46 sampled frames.
- Facial actions: jaw drop 30%, brow raise 12%, lip press 6% of face frames; the expression changes 3.0 times per minute.
- Smiling: a clear smile in 40% of face frames, mean smile intensity 0.35 on a 0-1 scale.
- Eyes: looks into the camera in 72% of face frames, 22 blinks per minute (typical while talking), eye openness 0.60 on a 0-1 scale, brow raising 0.20 on a 0-1 scale.
- Head: turned 5° sideways, 3° up or down, 2° tilted on average, moves 12.0° per second, 3.0 nods per minute.

Body and framing:
- Upper-body movement 0.20 on a 0-1 scale.
- The face spans 22% of the frame width (a medium shot), 10% of the way from the centre to the edge.
- Picture brightness 0.50 on a 0-1 scale.
- No glasses.
"""

GOLDEN_SKIPPED = """\
Video:
- The video lasts 15.3 s, 1280x720 pixels, 30 frames per second.
- No speech was detected.

What was said: nothing, because no speech was detected.

How it was said: not measured, because no speech was detected.

Face: not described, because no face was visible.

Body and framing: not described, because no face was visible.
"""

GOLDEN_TRANSCRIPT_ONLY = """\
About: Only the transcript of this video is known; the voice, face and picture were not analysed.

What was said (5 words):
"Hello there, this is me."
"""


def test_full_description_is_pinned() -> None:
    assert build_description(full_inputs()) + "\n" == GOLDEN_FULL


def test_every_input_skipped_is_stated_plainly() -> None:
    stages = {name: StageInput("skipped") for name in ("extract_audio", *ANALYSIS)}
    text = build_description(DescribeInputs(PROBE, stages))
    assert text + "\n" == GOLDEN_SKIPPED


def test_transcript_only_profile_is_pinned() -> None:
    assert transcript_only_description("Hello there, this is me.") + "\n" == GOLDEN_TRANSCRIPT_ONLY


def test_skip_reasons_are_never_quoted() -> None:
    stages = {"diarize": StageInput("done", DIARIZE), "transcribe": StageInput("done", TRANSCRIBE)}
    stages["analyze_face"] = StageInput("skipped", {})
    stages["prosody"] = StageInput("skipped", {"error": "Traceback: boom"})
    text = build_description(DescribeInputs(PROBE, stages))
    assert "Face: not described, because no face was visible." in text
    assert "Voice measurements are not available, because the voice could not be measured." in text
    assert "Traceback" not in text and "boom" not in text


def test_official_transcript_is_used_when_configured() -> None:
    inputs = DescribeInputs(PROBE, full_inputs().stages, official_transcript="The official words.")
    official = build_description(inputs, transcript_source="official")
    asr = build_description(inputs, transcript_source="asr")
    assert "What was said (official transcript, 3 words;" in official
    assert '"The official words."' in official
    assert '"So today I want' in asr and "official" not in asr


def test_official_requested_but_absent_says_so() -> None:
    text = build_description(full_inputs(), transcript_source="official")
    assert "automatic transcript; no official one exists" in text


def test_pitch_is_compared_with_the_apparent_gender_norm_only_when_known() -> None:
    male = build_description(full_inputs(analyze_face={**FACE, "apparent_gender": "male"}))
    unknown = build_description(full_inputs(analyze_face={**FACE, "apparent_gender": None}))
    assert "mean 212 Hz (much higher than most men's voices)" in male
    assert "Pitch: mean 212 Hz, varying" in unknown


def test_a_withheld_syllable_rate_leaves_the_word_rate_uncompared() -> None:
    prosody = {**PROSODY, "speech_rate_sps": None, "speech_rate_wps": 3.6}
    text = build_description(full_inputs(prosody=prosody))
    assert "Speaking rate: 3.6 words per second of speech." in text
    assert "syllables per second" not in text
    gone = build_description(full_inputs(prosody={**prosody, "speech_rate_wps": None}))
    assert "Speaking rate" not in gone


def test_tight_budget_drops_measurements_before_shortening_the_transcript() -> None:
    words = " ".join(f"w{i}" for i in range(400))
    inputs = full_inputs(transcribe={**TRANSCRIBE, "text": words})
    roomy = build_description(inputs, max_tokens=4096)
    tight = build_description(inputs, max_tokens=300)
    assert words in roomy and "left out" not in roomy
    assert estimate_tokens(tight) <= 300
    assert "Voice quality" not in tight and "Some measurements were left out" in tight
    assert '[...]" (shortened to' in tight and "of 400 words to fit the length limit)" in tight
    assert "No speech" not in tight and "The video lasts 15.3 s" in tight


def test_short_text_fits_without_trimming() -> None:
    text = build_description(full_inputs(), max_tokens=700)
    assert text == build_description(full_inputs(), max_tokens=4096)
    assert estimate_tokens(text) <= 700


def test_asr_tags_and_emoji_never_reach_the_text() -> None:
    noisy = {
        **TRANSCRIBE,
        "text": "<|en|><|HAPPY|>I love it \U0001f600 really\x00!",
        "events": ["<|Laughter|>", "😀"],
    }
    text = build_description(full_inputs(transcribe=noisy))
    assert '"I love it really !"' in text
    assert "<|" not in text and "\U0001f600" not in text and "\x00" not in text


def test_norms_are_versioned_and_checked() -> None:
    norms = load_norms()
    assert norms.version and TEMPLATE_VERSION
    assert norms.phrase("speech_rate_sps", 4.6) == "a typical articulation rate"
    assert norms.phrase("speech_rate_sps", 6.5) == "much faster than most speakers"
    assert all(n.basis and n.quantity for n in norms.norms.values())
    measured = [n for n in norms.norms.values() if n.clips]
    assert measured and all(n.clips >= 1000 for n in measured)
    with pytest.raises(ValueError, match="cuts must ascend"):
        parse_norms(
            {
                "version": "x",
                "norms": {
                    "a": {"unit": "s", "cuts": [2, 1], "words": ["a", "b", "c"], "basis": "b"}
                },
            }
        )


def test_the_contradiction_check_sees_two_bands_of_one_quantity() -> None:
    norms = load_norms()
    text = "3.2 (faster than most speakers), 3.9 (much slower than most speakers)."
    assert norms.compared_bands(text) == {"speaking rate": {0, 3}}


RATE = st.floats(min_value=0.5, max_value=9.0)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wps=RATE, sps=RATE, source=st.sampled_from(["transcript", "acoustic"]),
    pause=st.floats(0.1, 3.0), pitch=st.floats(60.0, 320.0), gender=st.sampled_from(["female", "male", None]),
    lufs=st.floats(-50.0, 0.0), blinks=st.floats(0.0, 80.0), words=st.integers(1, 200),
)  # fmt: skip
def test_no_description_compares_one_quantity_twice_with_different_answers(
    wps, sps, source, pause, pitch, gender, lufs, blinks, words
) -> None:
    prosody = {**PROSODY, "speech_rate_wps": wps, "speech_rate_sps": sps, "pitch_mean_hz": pitch,
               "speech_rate_source": source, "pause_mean_s": pause, "loudness_lufs": lufs}  # fmt: skip
    face = {**FACE, "apparent_gender": gender, "blinks_per_min": blinks}
    transcribe = {**TRANSCRIBE, "text": " ".join(["word"] * words)}
    inputs = full_inputs(prosody=prosody, analyze_face=face, transcribe=transcribe)
    text = build_description(inputs, max_tokens=4096)
    for quantity, bands in load_norms().compared_bands(text).items():
        assert len(bands) == 1, (quantity, bands, text)
    assert "Speaking rate:" in text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("25-32", "25-32"), ("61+", "61+"), (" 25 - 32 ", "25-32"), ("{", ""), ("young", ""), (7, "")],
)
def test_age_range_is_a_range_or_nothing(raw: object, expected: str) -> None:
    assert clean_age_range(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("开心/happy", "happy"), ("Female", "female"), ("{x}", "x"), ("[]", ""), ("a_b", "a b")],
)
def test_a_label_keeps_only_words(raw: str, expected: str) -> None:
    assert clean_label(raw) == expected


# --- property test: no field value breaks the text --------------------------------------

ODD = st.one_of(
    st.none(),
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([-1.0, -15.3, 0.0, 1e308, -1e308, 1e-320]),
    st.text(max_size=20),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.floats(allow_nan=True), max_size=4),
)
BAD_WORDS = ("nan", "inf", "None", "{", "}", "[]", "Traceback", "<|")


def _odd_summary(keys: list[str]) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional={k: ODD for k in keys})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    probe=st.one_of(st.none(), _odd_summary(["duration_s", "video", "audio"])),
    prosody=_odd_summary(list(ProsodySummary.__annotations__)),
    face=_odd_summary(list(FaceSummary.__annotations__)),
    diarize=_odd_summary(["num_speakers", "subject_talk_time_s", "speech_s", "duration_s"]),
    transcript=st.one_of(st.none(), st.just(""), st.text(max_size=300)),
    emotion=_odd_summary(["distribution", "dominant", "changes_per_min"]),
    statuses=st.lists(st.sampled_from(["done", "skipped", "absent"]), min_size=5, max_size=5),
    budget=st.sampled_from([256, 400, 1024]),
)
def test_no_field_value_breaks_the_text(
    probe, prosody, face, diarize, transcript, emotion, statuses, budget
) -> None:
    summaries = {
        "diarize": diarize,
        "transcribe": {"text": transcript, "language": "en"},
        "speech_emotion": emotion,
        "prosody": prosody,
        "analyze_face": face,
    }
    stages = {
        name: StageInput(status, summaries[name])
        for name, status in zip(ANALYSIS, statuses, strict=True)
        if status != "absent"
    }
    text = build_description(DescribeInputs(probe, stages), max_tokens=budget)
    assert text.strip() and estimate_tokens(text) <= budget
    # The quoted transcript is the speaker's own words; everything else is template text.
    template = "\n".join(ln for ln in text.splitlines() if not ln.startswith('"'))
    for bad in BAD_WORDS:
        assert not re.search(rf"(?<![a-z]){re.escape(bad)}(?![a-z])", template), (bad, text)
    assert "\x00" not in text
    assert all(line == line.strip() and "  " not in line for line in text.splitlines())
    assert build_description(DescribeInputs(probe, stages), max_tokens=budget) == text


def test_among_several_speakers_the_text_says_how_the_subject_was_chosen() -> None:
    from daemon.text.sections import speakers_line

    one = {"num_speakers": 1, "subject_talk_time_s": 12.0, "duration_s": 15.0,
           "subject_rule": "most_speech"}  # fmt: skip
    assert (
        speakers_line(one)
        == "1 speaker was detected; the subject talks for 12.0 s, 80% of the video."
    )
    two = {**one, "num_speakers": 2, "speech_s": 14.0, "subject_rule": "speaking_face"}
    assert speakers_line(two) == (
        "2 speakers were detected; the subject talks for 12.0 s, 86% of all speech; "
        "the subject is the speaker whose face is seen talking."
    )
    assert speakers_line({**two, "subject_rule": "user"}).endswith("a speaker chosen by hand.")
    assert speakers_line({**two, "subject_rule": None}).endswith("of all speech.")
