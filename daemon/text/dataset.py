"""Labelled description records for training and export, in one place.

Training, benchmarks and `lprd export` all read their examples through `labelled_examples`,
and format chat examples with daemon.text.prompt, so an exported chat file holds exactly
what lprd's own trainer and predictor see.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from daemon.labels.store import NEUROTICISM_NOTE, has_all_scores
from daemon.text.describe import PROFILE_FULL, TEMPLATE_VERSION
from daemon.text.norms import load_norms
from daemon.text.prompt import SYSTEM_PROMPT, build_messages, format_answer
from storage.db import Database
from storage.models import HASH_PREFIX, TARGETS, Description, Label, Video

FORMATS = ("chat", "alpaca", "jsonl")


@dataclass(frozen=True)
class Example:
    """One description with its label."""

    clip_name: str
    group_id: str | None
    split: str | None
    profile: str
    description: str
    scores: dict[str, float]
    label_source: str


@dataclass
class Selection:
    """The examples chosen and why the other descriptions were left out."""

    examples: list[Example] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        """Count one description left out for `why`."""
        self.skipped[why] = self.skipped.get(why, 0) + 1


def labelled_examples(db: Database, split: str | None, profile: str = PROFILE_FULL) -> Selection:
    """Current-template descriptions of `profile` with all six scores, in `split` (None = all)."""
    selection = Selection()
    with db.read() as session:
        labels = {lb.clip_name: lb for lb in session.scalars(select(Label))}
        hashes = {vid: sha for vid, sha in session.execute(select(Video.id, Video.sha256))}
        rows = session.scalars(
            select(Description)
            .where(Description.feature_profile == profile)
            .order_by(Description.clip_name)
        ).all()
    for row in rows:
        label = labels.get(row.clip_name) or labels.get(HASH_PREFIX + hashes.get(row.video_id, ""))
        if row.template_version != TEMPLATE_VERSION:
            selection.skip(f"template version {row.template_version} is not current")
        elif label is None or not has_all_scores(label):
            selection.skip("no label with all six scores")
        elif split is None or label.split == split:
            selection.examples.append(_example(row, label))
    return selection


def _example(row: Description, label: Label) -> Example:
    return Example(
        clip_name=row.clip_name,
        group_id=label.group_id,
        split=label.split,
        profile=row.feature_profile,
        description=row.text,
        scores={key: float(getattr(label, key)) for key in TARGETS},
        label_source=label.source,
    )


def chat_record(example: Example) -> dict[str, Any]:
    """Chat messages: lprd's system prompt, the description, the answer the predictor parses."""
    messages = build_messages(example.description)
    messages.append({"role": "assistant", "content": format_answer(example.scores)})
    return {"messages": messages}


def alpaca_record(example: Example) -> dict[str, Any]:
    """Instruction / input / output, with the same prompt and answer format."""
    return {
        "instruction": SYSTEM_PROMPT,
        "input": example.description,
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
        "description": example.description,
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
