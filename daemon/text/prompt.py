"""The chat prompt and answer format shared by training, prediction and export.

Training and inference must see byte-identical prompts (the prototype lprd replaces
did not, and its model suffered for it), so there is exactly one place that builds them.
"""

from __future__ import annotations

import json
import math
import re

from storage.models import TARGETS

SYSTEM_PROMPT = (
    "You rate apparent personality from a description of a short video of one person "
    "speaking to the camera. Give the Big Five traits and an interview score, each as a "
    "number from 0.00 to 1.00, as a JSON object with the keys "
    + ", ".join(TARGETS)
    + ". 'neuroticism' follows the First Impressions convention: higher means calmer "
    "(emotional stability)."
)

_NUMBER = r"([01](?:\.\d+)?)"


def build_messages(description: str) -> list[dict[str, str]]:
    """The system and user messages for one description."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": description},
    ]


def format_answer(scores: dict[str, float]) -> str:
    """The assistant answer for a set of scores: compact JSON, two decimals, fixed order."""
    return "{" + ", ".join(f'"{k}": {scores[k]:.2f}' for k in TARGETS) + "}"


def parse_answer(text: str) -> dict[str, float]:
    """Read the scores back from an answer; raises ValueError naming what is missing."""
    scores: dict[str, float] = {}
    try:
        obj = json.loads(text[text.index("{") : text.rindex("}") + 1])
        scores = {k: float(obj[k]) for k in TARGETS if k in obj}
    except (ValueError, TypeError):
        for key in TARGETS:
            match = re.search(rf'"?{key}"?\s*:\s*{_NUMBER}', text)
            if match:
                scores[key] = float(match.group(1))
    missing = [k for k in TARGETS if k not in scores or not math.isfinite(scores[k])]
    if missing:
        raise ValueError(f"answer lacks {missing}: {text[:200]!r}")
    return {k: min(1.0, max(0.0, scores[k])) for k in TARGETS}
