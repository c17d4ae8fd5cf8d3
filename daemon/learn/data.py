"""Labelled descriptions: what a model learns from and is judged on.

Training reads the `train` split only (labels without a split, e.g. sidecar files of a
user's own videos, count as train); reporting reads `validation`; `test` is read only
by `lprd eval --split test`, never during training or selection.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from daemon.labels.files import group_of
from storage.db import Database
from storage.models import TARGETS, Description, Label


@dataclass(frozen=True)
class Example:
    """One labelled description."""

    clip_name: str
    group_id: str
    text: str
    scores: dict[str, float]
    template_version: str


def _group(clip_name: str, group_id: str | None) -> str:
    """The label's group, else the clip's (the YouTube id), else the clip itself."""
    return group_id or group_of(clip_name) or clip_name


def _split_filter(split: str):  # a SQLAlchemy clause
    if split == "train":
        return or_(Label.split == "train", Label.split.is_(None))
    return Label.split == split


def load_examples(
    db: Database, profile: str, split: str, template_version: str | None = None
) -> list[Example]:
    """Labelled descriptions of one profile and split, complete labels only, by clip name."""
    stmt = (
        select(Description, Label)
        .join(Label, Label.clip_name == Description.clip_name)
        .where(Description.feature_profile == profile, _split_filter(split))
        .order_by(Description.clip_name)
    )
    if template_version is not None:
        stmt = stmt.where(Description.template_version == template_version)
    examples = []
    with db.read() as session:
        for desc, label in session.execute(stmt):
            scores = {t: getattr(label, t) for t in TARGETS}
            if any(v is None for v in scores.values()):
                continue
            examples.append(
                Example(
                    desc.clip_name,
                    _group(desc.clip_name, label.group_id),
                    desc.text,
                    scores,
                    desc.template_version,
                )
            )
    return examples


def main_template(examples: list[Example]) -> str | None:
    """The template version most training rows use (a model learns one template)."""
    counts = Counter(e.template_version for e in examples)
    return counts.most_common(1)[0][0] if counts else None


def grouped_holdout(
    examples: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Split by group so that no YouTube id is on both sides: (fit, holdout)."""
    groups = sorted({e.group_id for e in examples})
    random.Random(seed).shuffle(groups)
    n_hold = max(1, round(len(groups) * fraction)) if len(groups) > 1 else 0
    held = set(groups[:n_hold])
    fit = [e for e in examples if e.group_id not in held]
    hold = [e for e in examples if e.group_id in held]
    return fit, hold


def subsample(examples: list[Example], limit: int, seed: int) -> list[Example]:
    """At most `limit` rows (0: all), chosen reproducibly."""
    if not limit or len(examples) <= limit:
        return examples
    picked = random.Random(seed).sample(range(len(examples)), limit)
    return [examples[i] for i in sorted(picked)]


def labelled_count(db: Database) -> int:
    """Labelled training descriptions of every profile (what the retrain trigger counts)."""
    with db.read() as session:
        return session.execute(
            select(func.count())
            .select_from(Description)
            .join(Label, Label.clip_name == Description.clip_name)
            .where(_split_filter("train"))
        ).scalar_one()
