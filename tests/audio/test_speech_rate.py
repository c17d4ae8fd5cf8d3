"""Syllables from text (CMUdict and the fallback) and the speaking rate prosody reports."""

from __future__ import annotations

import pytest

from daemon.stages.prosody import speech_rates
from daemon.text.syllables import count_syllables, fallback_syllables, word_syllables


def test_dictionary_words_have_their_pronounced_syllables() -> None:
    assert word_syllables("interesting") == (3, True)  # CMUdict: IH1 N T R AH0 S T IH0 NG
    assert word_syllables("the") == (1, True)
    assert word_syllables("don't") == (1, True)
    counted = count_syllables("Honestly, I think the university was beautiful!")
    assert (counted.syllables, counted.words, counted.in_dictionary) == (15, 7, 7)


@pytest.mark.parametrize(
    ("word", "expected"),
    [("zoomers", 2), ("youtubers", 3), ("vlogging", 2), ("instagrammer", 4), ("selfie", 2)],
)
def test_unknown_words_get_the_fallback_estimate(word: str, expected: int) -> None:
    assert fallback_syllables(word) == expected


def test_english_text_has_about_one_and_a_half_syllables_per_word() -> None:
    text = (
        "I really enjoy working with people, and I think communication is one of the most "
        "important things in any job, because without it nothing would get done properly."
    )
    assert 1.25 <= count_syllables(text).per_word <= 1.7
    assert count_syllables("").per_word is None


def test_rate_comes_from_the_transcript_and_the_sound_only_without_one() -> None:
    text = " ".join(["good people"] * 6)  # 12 words, 18 syllables
    rates, withheld = speech_rates(text, acoustic_syllables=20, speech_s=6.0)
    assert rates == {"speech_rate_wps": 2.0, "speech_rate_sps": 3.0,
                     "speech_rate_source": "transcript"}  # fmt: skip
    assert withheld == {}
    rates, withheld = speech_rates(None, acoustic_syllables=24, speech_s=6.0)
    assert rates["speech_rate_sps"] == 4.0 and rates["speech_rate_wps"] is None
    assert rates["speech_rate_source"] == "acoustic"


@pytest.mark.parametrize(
    ("text", "per_word"),
    [(" ".join(["you"] * 30), "1.00"), (" ".join(["beautiful"] * 12), "3.00")],
)
def test_syllable_rate_is_withheld_when_no_genuine_text_has_that_many_per_word(
    text: str, per_word: str
) -> None:
    # One word over and over (an ASR loop) or only long words: the word rate stays, the
    # syllable rate is left out with the ratio in the reason, never replaced by the
    # acoustic count.
    rates, withheld = speech_rates(text, acoustic_syllables=20, speech_s=6.0)
    assert rates["speech_rate_sps"] is None and rates["speech_rate_wps"] is not None
    assert f"{per_word} syllables per word" in withheld["speech_rate_sps"]


def test_monosyllabic_but_genuine_speech_keeps_its_syllable_rate() -> None:
    # 1DCnIad1Y0w.002's official text: 1.09 syllables per word, rare (0.8th percentile of
    # the official transcripts) but real speech.
    text = ("You can do what you want to do in your own house. I am not going to judge you "
            "for that. I don't care what you do. You could watch anime. You could dress up.")  # fmt: skip
    assert count_syllables(text).per_word < 1.25
    rates, withheld = speech_rates(text, acoustic_syllables=20, speech_s=6.0)
    assert rates["speech_rate_sps"] is not None and withheld == {}


def test_rate_is_withheld_with_the_reason_when_there_is_too_little_speech() -> None:
    rates, withheld = speech_rates("yes no maybe", acoustic_syllables=4, speech_s=6.0)
    assert rates["speech_rate_sps"] is None and "only 3 words" in withheld["speech_rate"]
    rates, withheld = speech_rates("one two", acoustic_syllables=2, speech_s=1.0)
    assert rates["speech_rate_sps"] is None and "1.0 s of speech" in withheld["speech_rate"]
