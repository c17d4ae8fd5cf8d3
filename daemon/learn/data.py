"""Labelled descriptions: what a model learns from and is judged on.

Training reads the `train` split only (labels without a split, e.g. sidecar files of a
user's own videos, count as train); reporting reads `validation`; `test` is read only
by `lprd eval --split test`, never during training or selection.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import or_, select

from daemon.labels.files import group_of
from daemon.labels.study import study_ratings
from daemon.targets import TargetSet, first_impressions
from storage.db import Database
from storage.models import HASH_PREFIX, Description, Label, StudyLabel, Video

MISSING = float("nan")  # a rating the study does not have for that clip


@dataclass(frozen=True)
class Example:
    """One labelled description; scores in unit space, NaN where a target is not rated."""

    clip_name: str
    group_id: str
    text: str
    scores: dict[str, float]
    template_version: str


@dataclass(frozen=True)
class Rating:
    """What the labels say about one clip key (clip name or `sha256:<hex>`)."""

    group_id: str | None
    scores: dict[str, float]  # unit space, NaN for targets not rated


def _group(clip_name: str, group_id: str | None) -> str:
    """The label's group, else the clip's (the YouTube id), else the clip itself."""
    return group_id or group_of(clip_name) or clip_name


def _split_filter(column, split: str):  # a SQLAlchemy clause  # noqa: ANN001
    if split == "train":
        return or_(column == "train", column.is_(None))
    return column == split


def _builtin_ratings(db: Database, target_set: TargetSet, split: str) -> dict[str, Rating]:
    """First Impressions labels (the `labels` table), complete rows only, as before."""
    names = target_set.names
    found = {}
    with db.read() as session:
        for label in session.scalars(select(Label).where(_split_filter(Label.split, split))):
            scores = {t: getattr(label, t) for t in names}
            if all(v is not None for v in scores.values()):
                found[label.clip_name] = Rating(label.group_id, scores)
    return found


def _study_ratings(db: Database, target_set: TargetSet, split: str) -> dict[str, Rating]:
    """A study's ratings (`study_labels`, read by daemon.labels.study) in unit space; a
    clip may lack some targets (NaN), and one rating none of the set's targets is left out."""
    found = {}
    for key, rating in study_ratings(db, target_set.name, split).items():
        scores = {
            t.name: t.to_unit(rating.values[t.name]) if t.name in rating.values else MISSING
            for t in target_set.targets
        }
        if any(v == v for v in scores.values()):  # NaN != NaN
            found[key] = Rating(rating.group_id, scores)
    return found


def ratings(db: Database, target_set: TargetSet, split: str) -> dict[str, Rating]:
    """Every rated clip key of one set and split (split NULL counts as train)."""
    if target_set.builtin:
        return _builtin_ratings(db, target_set, split)
    return _study_ratings(db, target_set, split)


def load_examples(
    db: Database,
    profile: str,
    split: str,
    template_version: str | None = None,
    target_set: TargetSet | None = None,
) -> list[Example]:
    """Labelled descriptions of one profile, split and target set, by clip name. A label
    matches a description by the clip's name or by `sha256:<hex>` of its video, the way
    `label_for_video` matches them."""
    target_set = target_set or first_impressions()
    rated = ratings(db, target_set, split)
    if not rated:
        return []
    stmt = (
        select(Description, Video.sha256)
        .outerjoin(Video, Video.id == Description.video_id)
        .where(Description.feature_profile == profile)
        .order_by(Description.clip_name)
    )
    if template_version is not None:
        stmt = stmt.where(Description.template_version == template_version)
    examples = []
    with db.read() as session:
        for desc, sha in session.execute(stmt):
            rating = rated.get(desc.clip_name) or (sha and rated.get(HASH_PREFIX + sha))
            if rating:
                examples.append(
                    Example(
                        desc.clip_name,
                        _group(desc.clip_name, rating.group_id),
                        desc.text,
                        rating.scores,
                        desc.template_version,
                    )  # fmt: skip
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
    """Labelled training descriptions of every profile (what the retrain trigger counts),
    of the built-in set and of every study set, labels matched by clip name or hash."""
    with db.read() as session:
        keys = set(
            session.scalars(select(Label.clip_name).where(_split_filter(Label.split, "train")))
        )
        keys |= set(
            session.scalars(
                select(StudyLabel.clip_name).where(_split_filter(StudyLabel.split, "train"))
            )
        )
        rows = session.execute(
            select(Description.clip_name, Video.sha256).outerjoin(
                Video, Video.id == Description.video_id
            )
        )
        return sum(1 for clip, sha in rows if clip in keys or (sha and HASH_PREFIX + sha in keys))
