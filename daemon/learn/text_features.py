"""Hand-made measures of what was said, read from a description's transcript section.

The features a person would try first: how much was said (and how fast, where the
description states the speaking rate), LIWC-style word categories (pronouns, negations,
hedges, fillers, ...), the ten NRC emotion and sentiment categories (the lexicon file
shipped inside the `nrclex` package, read directly) and VADER sentiment.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from daemon.errors import PermanentError
from daemon.packaged import package_file

QUOTE = re.compile(r'What was said \((?P<details>[^\n]*)\):\n"(?P<quote>.*)"', re.DOTALL)
RATE = re.compile(r"([0-9.]+) words per second")
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
SENTENCE_END = re.compile(r"[.!?]+")

CATEGORIES: dict[str, frozenset[str]] = {
    "i": frozenset("i me my mine myself i'm i've i'd i'll im".split()),
    "we": frozenset("we us our ours ourselves we're we've we'll let's".split()),
    "you": frozenset("you your yours yourself yourselves you're you've you'll ya".split()),
    "they": frozenset("he she him her his hers they them their theirs he's she's they're".split()),
    "negation": frozenset(
        "no not never nothing nobody none nor don't can't won't didn't isn't wasn't doesn't "
        "couldn't shouldn't wouldn't aren't haven't hasn't weren't cannot".split()
    ),
    "filler": frozenset("um uh uhm er ah like yeah okay ok so basically literally".split()),
    "hedge": frozenset("maybe perhaps probably possibly guess think kind sort seems might".split()),
    "certainty": frozenset(
        "always definitely absolutely certainly sure totally completely never really".split()
    ),
    "social": frozenset(
        "friend friends family people mom dad mother father brother sister guys everyone "
        "together talk talking said told ask".split()
    ),
    "work": frozenset(
        "work job school business career money company study college class project "
        "office boss interview".split()
    ),
    "leisure": frozenset(
        "fun game games music movie movies video videos play playing party travel".split()
    ),
    "cognitive": frozenset(
        "know because think reason understand realize cause why how idea believe".split()
    ),
    "past": frozenset("was were had did been went said got came".split()),
    "swear": frozenset("damn hell shit fuck fucking crap ass bitch".split()),
}
NRC_CATEGORIES = (
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "negative",
    "positive",
    "sadness",
    "surprise",
    "trust",
)
VADER_KEYS = ("compound", "pos", "neg", "neu")


def transcript_of(description: str) -> tuple[str, float | None]:
    """The quoted transcript of a description and the speaking rate it states, if any."""
    match = QUOTE.search(description)
    if match is None:
        return "", None
    rate = RATE.search(match["details"])
    return match["quote"].removesuffix(" [...]"), float(rate[1]) if rate else None


@cache
def nrc_lexicon() -> dict[str, tuple[str, ...]]:
    """{word: NRC categories} from the JSON file inside the nrclex package."""
    path = package_file("nrclex", "data/nrc_en.json")
    if path is None:
        raise PermanentError("the text-feature head needs `pip install nrclex`")
    return {w: tuple(c) for w, c in json.loads(path.read_text()).items()}


@cache
def _vader() -> Any:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        raise PermanentError("the text-feature head needs `pip install vadersentiment`") from exc
    return SentimentIntensityAnalyzer()


def feature_names() -> list[str]:
    """Column names of `features`, in order."""
    shape = ["log_words", "speaking_rate", "rate_known", "word_length", "long_words"]
    shape += ["type_token", "words_per_sentence", "questions", "exclamations", "digits"]
    return (
        shape
        + [f"cat_{c}" for c in CATEGORIES]
        + [f"nrc_{c}" for c in NRC_CATEGORIES]
        + [f"vader_{k}" for k in VADER_KEYS]
    )


def features(description: str) -> list[float]:
    """One row of measures for one description (zeros where nothing was said)."""
    quote, rate = transcript_of(description)
    words = WORD.findall(quote.lower())
    n = len(words)
    share = 1.0 / n if n else 0.0
    sentences = max(1, len(SENTENCE_END.findall(quote)))
    row = [
        math.log1p(n),
        rate or 0.0,
        1.0 if rate else 0.0,
        sum(map(len, words)) * share,
        sum(len(w) > 6 for w in words) * share,
        len(set(words)) * share,
        n / sentences / 20.0,
        quote.count("?") / sentences,
        quote.count("!") / sentences,
        sum(c.isdigit() for c in quote) * share,
    ]
    row += [sum(w in vocab for w in words) * share for vocab in CATEGORIES.values()]
    lexicon = nrc_lexicon()
    hits = [c for w in words for c in lexicon.get(w, ())]
    row += [hits.count(c) * share for c in NRC_CATEGORIES]
    polarity = _vader().polarity_scores(quote) if quote else dict.fromkeys(VADER_KEYS, 0.0)
    row += [float(polarity[k]) for k in VADER_KEYS]
    return row


def feature_matrix(descriptions: Sequence[str]) -> Any:
    """A (rows, features) float array."""
    import numpy as np

    return np.array([features(d) for d in descriptions], dtype=np.float64).reshape(
        len(descriptions), len(feature_names())
    )


# Word counts below which the score drops more and more steeply: a hinge on the log count
# at each knot lets a linear model bend where a few words say little.
WORD_KNOTS = (5, 10, 20, 30, 45, 60, 80)
# Standardised measures are scaled down so that 48 columns do not outweigh the
# 384 unit-length embedding dimensions under the same ridge penalty.
FEATURE_WEIGHT = 0.2


def expanded(matrix: Any) -> Any:
    """The measures plus one hinge column per word-count knot."""
    import numpy as np

    log_words = matrix[:, :1]
    hinges = [np.maximum(0.0, math.log1p(k) - log_words) for k in WORD_KNOTS]
    return np.hstack([matrix, *hinges])


class FeatureScaler:
    """Standardises the expanded measures with the training rows' mean and spread."""

    def __init__(self, mean: Any, scale: Any) -> None:
        self.mean, self.scale = mean, scale

    @classmethod
    def fit(cls, descriptions: Sequence[str]) -> FeatureScaler:
        """Mean and spread of the training descriptions' measures."""
        import numpy as np

        matrix = expanded(feature_matrix(descriptions))
        scale = matrix.std(axis=0)
        return cls(matrix.mean(axis=0), np.where(scale > 1e-9, scale, 1.0))

    def transform(self, descriptions: Sequence[str]) -> Any:
        """Weighted, standardised measures, one row per description."""
        return (expanded(feature_matrix(descriptions)) - self.mean) / self.scale * FEATURE_WEIGHT
