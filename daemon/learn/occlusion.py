"""Reasons for a prediction: what each description section contributes, by occlusion.

The description is scored as it is and once with each section removed; a section's
contribution to a target is the full score minus the score without it. It works for any
predictor (it only calls `predict`), so every head gets the same kind of explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from daemon.learn.metrics import Scores
from daemon.text.layout import split_sections, without_section

Reasons = dict[str, list[dict[str, float | str]]]


def present_sections(text: str) -> list[str]:
    """Section names found in a description, in order, each once."""
    names: list[str] = []
    for name, _ in split_sections(text):
        if name is not None and name not in names:
            names.append(name)
    return names


def explain(
    predict: Callable[[Sequence[str]], list[Scores]],
    text: str,
    sections: Sequence[str] | None = None,
) -> tuple[Scores, Reasons]:
    """(scores of the full text, contributions per target sorted by size).

    `sections` defaults to those present; a requested section that is absent contributes
    exactly 0 without being scored. Contributions are rounded to 6 decimals like scores,
    so a removal that leaves the score unchanged reads 0.
    """
    present = present_sections(text)
    wanted = list(sections) if sections is not None else present
    scored = [s for s in wanted if s in present]
    outputs = predict([text, *(without_section(text, s) for s in scored)])
    full, rest = outputs[0], dict(zip(scored, outputs[1:], strict=True))
    reasons: Reasons = {}
    for t in full:
        items = [
            {
                "section": s,
                "contribution": round(float(full[t]) - float(rest[s][t]), 6) if s in rest else 0.0,
            }
            for s in wanted
        ]
        items.sort(key=lambda item: (-abs(item["contribution"]), item["section"]))
        reasons[t] = items
    return full, reasons
