"""Occlusion reasons: each description section's contribution to each score."""

from __future__ import annotations

from daemon.learn.occlusion import explain, present_sections
from daemon.text.describe import transcript_only_description
from daemon.text.layout import without_section
from storage.models import TARGETS

FULL = "\n\n".join(
    [
        "Video: The video lasts 15.0 s, 1280x720 pixels.",
        'What was said (official transcript, 4 words):\n"I love big parties"',
        "How it was said:\n- Loud voice (louder than most).\n- Fast speech.",
        "Face: Smiles often.",
    ]
)


def word_counter(texts):  # a stand-in model inside the test
    """Extraversion rises with 'loud' and 'smiles'; every other target ignores the text."""
    out = []
    for text in texts:
        low = text.lower()
        e = 0.5 + 0.1 * low.count("loud") + 0.05 * low.count("smiles")
        out.append({t: (e if t == "extraversion" else 0.5) for t in TARGETS})
    return out


def by_section(reasons, target):
    return {r["section"]: r["contribution"] for r in reasons[target]}


def test_sections_are_found_and_removed() -> None:
    assert present_sections(FULL) == ["video", "transcript", "voice", "face"]
    assert "Smiles" not in without_section(FULL, "face")
    assert without_section(FULL, "body") == FULL
    text = transcript_only_description("hello there everyone")
    assert present_sections(text) == ["about", "transcript"]


def test_contributions_have_signs_sizes_and_order() -> None:
    scores, reasons = explain(word_counter, FULL)
    assert scores["extraversion"] == 0.5 + 0.2 + 0.05
    extra = reasons["extraversion"]
    assert [r["section"] for r in extra[:2]] == ["voice", "face"]
    assert by_section(reasons, "extraversion")["voice"] == 0.2
    assert by_section(reasons, "extraversion")["face"] == 0.05


def test_absent_section_contributes_exactly_zero() -> None:
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return word_counter(texts)

    _, reasons = explain(counting, FULL, sections=["face", "body"])
    assert by_section(reasons, "extraversion")["body"] == 0.0
    assert calls == [2]  # the full text and the text without the face; body is not scored


def test_section_whose_removal_changes_nothing_scores_zero() -> None:
    _, reasons = explain(word_counter, FULL)
    for target in TARGETS:
        contributions = by_section(reasons, target)
        assert contributions["video"] == 0.0 and contributions["transcript"] == 0.0
    assert all(c == 0.0 for c in by_section(reasons, "openness").values())
