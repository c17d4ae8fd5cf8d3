"""Word error rate with a light English normalisation (case, punctuation, contractions)."""

from __future__ import annotations

import re

CONTRACTIONS = {
    "i'm": "i am", "you're": "you are", "we're": "we are", "they're": "they are",
    "it's": "it is", "that's": "that is", "there's": "there is", "he's": "he is",
    "she's": "she is", "what's": "what is", "let's": "let us", "i've": "i have",
    "you've": "you have", "we've": "we have", "i'll": "i will", "you'll": "you will",
    "we'll": "we will", "i'd": "i would", "you'd": "you would", "don't": "do not",
    "doesn't": "does not", "didn't": "did not", "can't": "cannot", "won't": "will not",
    "isn't": "is not", "aren't": "are not", "wasn't": "was not", "couldn't": "could not",
    "wouldn't": "would not", "shouldn't": "should not", "gonna": "going to",
    "wanna": "want to", "okay": "ok",
}  # fmt: skip
FILLERS = {"uh", "um", "hmm", "mm", "ah", "er"}


def normalize(text: str) -> list[str]:
    """Lower-case words without punctuation, contractions expanded, fillers dropped."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[-/]", " ", text)
    words = re.sub(r"[^a-z0-9' ]+", " ", text).split()
    out: list[str] = []
    for w in words:
        w = w.strip("'")
        if w and w not in FILLERS:
            out.extend(CONTRACTIONS.get(w, w).split())
    return out


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between word lists."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word errors, reference words) after normalisation."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    return edit_distance(ref, hyp), len(ref)
