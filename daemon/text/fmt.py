"""Small formatting helpers: cleaning untrusted values and writing numbers with units.

Every value that reaches the description passes through here, so NaN, infinities,
negative durations, wrong types and absurd magnitudes become "not measurable" instead
of text such as "nan Hz".
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

_NOT_LABEL = re.compile(r"[^\w\s-]|_")
_AGE_RANGE = re.compile(r"\d{1,3}(-\d{1,3}|\+)")

# Digits, letter runs of up to 8, and single marks: close to how BPE vocabularies split text.
_TOKEN = re.compile(r"\d|[^\W\d_]{1,8}|[^\w\s]|_")
# Calibrated on lprd descriptions against the SmolLM2 tokenizer (digits split singly): the
# raw count runs about 10 % low on measurement-heavy text, so the estimate adds 10 %.
TOKEN_MARGIN = 1.1
_TAG = re.compile(r"<\|[^|>]*\|>|<[a-z_/]{1,20}>", re.IGNORECASE)
_DROP_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "So", "Sk"}


def estimate_tokens(text: str) -> int:
    """Token estimate for a length budget, within about 10 % of a BPE count for English."""
    return math.ceil(len(_TOKEN.findall(text)) * TOKEN_MARGIN)


def number(value: Any, lo: float, hi: float) -> float | None:
    """`value` as a float if it is a finite real number within [lo, hi], else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        result = float(value)
    except (OverflowError, ValueError):
        return None
    if not math.isfinite(result) or not lo <= result <= hi:
        return None
    return result


def count(value: Any, hi: int) -> int | None:
    """A whole count within [0, hi] (floats with no fraction accepted), else None."""
    result = number(value, 0, hi)
    if result is None or result != int(result):
        return None
    return int(result)


def fixed(value: float, digits: int) -> str:
    """`value` with `digits` decimals, never '-0.0'."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def pct(share: float) -> str:
    """A 0..1 share as a whole percentage, e.g. '42%'."""
    return f"{share * 100:.0f}%"


def clean_text(value: Any, max_chars: int = 100_000) -> str:
    """Plain text: no ASR tags, emoji, control characters or runs of whitespace."""
    if not isinstance(value, str):
        return ""
    text = _TAG.sub(" ", value[: max_chars * 2])
    text = "".join(" " if unicodedata.category(ch) in _DROP_CATEGORIES else ch for ch in text)
    return " ".join(text.split())[:max_chars].strip()


def clean_label(value: Any, max_chars: int = 40) -> str:
    """A short class name such as an emotion ('开心/happy' -> 'happy'), lower case."""
    text = clean_text(value, max_chars=200)
    if "/" in text:
        text = text.rsplit("/", 1)[-1]
    # A label names a class: anything but letters, digits, spaces and hyphens is not one.
    text = " ".join(_NOT_LABEL.sub(" ", text).split())
    return text.lower()[:max_chars]


def clean_age_range(value: Any) -> str:
    """An age range such as '25-32' or '61+', or '' for anything else."""
    text = clean_text(value, max_chars=20).replace(" ", "")
    return text if _AGE_RANGE.fullmatch(text) else ""


def join_words(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 speaker', '3 speakers'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
