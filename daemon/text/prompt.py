"""The chat prompt and answer format shared by training, prediction and export.

Training and inference must see byte-identical prompts (the prototype lprd replaces
did not, and its model suffered for it), so there is exactly one place that builds them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from daemon.targets import TargetSet
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
TASK_FILE = "task.json"


@dataclass(frozen=True)
class Task:
    """What an LLM head is asked: its targets, in answer order, and the system prompt."""

    targets: tuple[str, ...] = TARGETS
    system: str = SYSTEM_PROMPT

    def save(self, folder: Path) -> None:
        """task.json beside a saved model."""
        payload = {"targets": list(self.targets), "system": self.system}
        (Path(folder) / TASK_FILE).write_text(json.dumps(payload, indent=1))

    @classmethod
    def load(cls, folder: Path) -> Task:
        """The task a model was saved with (First Impressions' for models saved before
        tasks were recorded)."""
        path = Path(folder) / TASK_FILE
        if not path.exists():
            return FI_TASK
        data = json.loads(path.read_text())
        return cls(tuple(data["targets"]), data["system"])


FI_TASK = Task()


def task_for(target_set: TargetSet) -> Task:
    """The built-in prompt for First Impressions; for a study's set, one that names each
    target, what it measures and what the ends of its scale mean, mapped to 0.00-1.00."""
    if target_set.builtin:
        return FI_TASK
    lines = []
    for t in target_set.targets:
        what = f": {t.description}" if t.description else ""
        ends = f" (0.00 = {t.low_words or t.low}, 1.00 = {t.high_words or t.high}"
        lines.append(f"- {t.name}{what}{ends}; rated on {t.low:g}-{t.high:g})")
    system = (
        "You rate how a person comes across from a description of a video of them speaking. "
        "Give each of these ratings as a number from 0.00 to 1.00, as a JSON object with "
        "the keys " + ", ".join(target_set.names) + ":\n" + "\n".join(lines)
    )
    return Task(target_set.names, system)


def build_messages(description: str, task: Task = FI_TASK) -> list[dict[str, str]]:
    """The system and user messages for one description."""
    return [
        {"role": "system", "content": task.system},
        {"role": "user", "content": description},
    ]


def format_answer(scores: dict[str, float], task: Task = FI_TASK) -> str:
    """The assistant answer for a set of scores: compact JSON, two decimals, fixed order."""
    return "{" + ", ".join(f'"{k}": {scores[k]:.2f}' for k in task.targets) + "}"


def parse_answer(text: str, task: Task = FI_TASK) -> dict[str, float]:
    """Read the scores back from an answer; raises ValueError naming what is missing."""
    scores: dict[str, float] = {}
    names = task.targets
    try:
        obj = json.loads(text[text.index("{") : text.rindex("}") + 1])
        scores = {k: float(obj[k]) for k in names if k in obj}
    except (ValueError, TypeError):
        for key in names:
            match = re.search(rf'"?{key}"?\s*:\s*{_NUMBER}', text)
            if match:
                scores[key] = float(match.group(1))
    missing = [k for k in names if k not in scores or not math.isfinite(scores[k])]
    if missing:
        raise ValueError(f"answer lacks {missing}: {text[:200]!r}")
    return {k: min(1.0, max(0.0, scores[k])) for k in names}
