"""The benchmark's word error rate: jiwer after the same normalisation on both sides."""

from __future__ import annotations

import pytest

from bench.wer import wer


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("Hello, world! I'm gonna go.", "hello world i am going to go", (0, 7)),
        ("Um, so it's okay", "so it is ok", (0, 4)),
        ("Can't won't don't", "cannot will not do not", (0, 6)),
        ("The self-made man/woman", "the self made man woman", (0, 5)),
        ("a b c", "", (3, 3)),
        ("", "two words", (2, 0)),
        ("the cat sat", "the hat sat down", (2, 3)),
    ],
)
def test_wer_counts_errors_after_normalisation(reference, hypothesis, expected) -> None:
    assert wer(reference, hypothesis) == expected
