"""Labelled description records for training and export, in one place.

`lprd export` reads its examples through daemon.labels.examples, as training does, and
formats chat examples with daemon.text.prompt, so an exported chat file holds exactly what
lprd's own trainer and predictor see.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from daemon.labels.examples import Example, Selection, select_examples
from daemon.labels.store import NEUROTICISM_NOTE
from daemon.text.describe import PROFILE_FULL, TEMPLATE_VERSION
from daemon.text.norms import load_norms
from daemon.text.prompt import SYSTEM_PROMPT, build_messages, format_answer
from storage.db import Database
from storage.models import TARGETS

FORMATS = ("chat", "alpaca", "jsonl")


def labelled_examples(db: Database, split: str | None, profile: str = PROFILE_FULL) -> Selection:
    """Current-template descriptions of `profile` with all six scores, in `split` (None =
    all; "train" takes labels without a split too, as training does)."""
    return select_examples(db, profile, split, TEMPLATE_VERSION)


def chat_record(example: Example) -> dict[str, Any]:
    """Chat messages: lprd's system prompt, the description, the answer the predictor parses."""
    messages = build_messages(example.text)
    messages.append({"role": "assistant", "content": format_answer(example.scores)})
    return {"messages": messages}


def alpaca_record(example: Example) -> dict[str, Any]:
    """Instruction / input / output, with the same prompt and answer format."""
    return {
        "instruction": SYSTEM_PROMPT,
        "input": example.text,
        "output": format_answer(example.scores),
    }


def plain_record(example: Example) -> dict[str, Any]:
    """Everything lprd knows about the example, for other tools."""
    return {
        "clip_name": example.clip_name,
        "group_id": example.group_id,
        "split": example.split,
        "feature_profile": example.profile,
        "template_version": TEMPLATE_VERSION,
        "description": example.text,
        "labels": {key: example.scores[key] for key in TARGETS},
        "label_source": example.label_source,
    }


RECORDS = {"chat": chat_record, "alpaca": alpaca_record, "jsonl": plain_record}


def write_export(examples: list[Example], fmt: str, out: Path, meta: dict[str, Any]) -> Path:
    """Write one JSON line per example to `out` (atomically) and a card beside it."""
    to_record = RECORDS[fmt]
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(to_record(example), ensure_ascii=False) + "\n")
    os.replace(partial, out)
    card = out.with_name(out.name + ".card.json")
    card.write_text(json.dumps(_card(examples, fmt, meta), indent=2) + "\n", encoding="utf-8")
    return card


def _card(examples: list[Example], fmt: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": fmt,
        "records": len(examples),
        "template_version": TEMPLATE_VERSION,
        "norms_version": load_norms().version,
        "targets": list(TARGETS),
        "neuroticism": NEUROTICISM_NOTE,
        "groups": len({e.group_id for e in examples}),
        **meta,
    }
