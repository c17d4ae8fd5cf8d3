"""Labelled descriptions: what a model learns from and is judged on.

Training reads the `train` split only (labels without a split, e.g. sidecar files of a
user's own videos, count as train); reporting reads `validation`; `test` is read only
by `lprd eval --split test`, never during training or selection.
"""

from __future__ import annotations

import random
from collections import Counter

from sqlalchemy import select

from daemon.labels.examples import Example, load_examples, ratings, split_filter
from storage.db import Database
from storage.models import HASH_PREFIX, Description, Label, StudyLabel, Video

# The examples themselves are loaded by daemon.labels.examples; they are named here too
# for the trainer, cross-validation and evaluation.
__all__ = ["Example", "grouped_holdout", "labelled_count", "load_examples", "main_template",
           "ratings", "subsample"]  # fmt: skip


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
    """Labelled training descriptions of every profile (what the retrain trigger counts),
    of the built-in set and of every study set, labels matched by clip name or hash."""
    with db.read() as session:
        keys = set(
            session.scalars(select(Label.clip_name).where(split_filter(Label.split, "train")))
        )
        keys |= set(
            session.scalars(
                select(StudyLabel.clip_name).where(split_filter(StudyLabel.split, "train"))
            )
        )
        rows = session.execute(
            select(Description.clip_name, Video.sha256).outerjoin(
                Video, Video.id == Description.video_id
            )
        )
        return sum(1 for clip, sha in rows if clip in keys or (sha and HASH_PREFIX + sha in keys))
