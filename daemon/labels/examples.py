"""Labelled examples: a description with its labels in one target set. Training,
evaluation and `lprd export` all read their rows here.

A label matches a description the way `label_for_video` matches a video: by the clip's
name, else by `sha256:<hex>` of the description's video. Scores are in unit space (a
study's declared scale mapped to [0, 1]; First Impressions' already is), NaN where a
study did not rate that target. Split "train" also takes the labels without a split
(e.g. sidecars of a lab's own videos); "validation" and "test" only their own; None all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select

from daemon.labels.files import group_of
from daemon.labels.study import study_ratings
from daemon.targets import TargetSet, first_impressions
from storage.db import Database
from storage.models import HASH_PREFIX, Description, Label, Video

MISSING = float("nan")  # a rating the study does not have for that clip
NO_FULL_LABEL = "no label with all six scores"


@dataclass(frozen=True)
class Example:
    """One labelled description; scores in unit space, NaN where a target is not rated."""

    clip_name: str
    group_id: str  # the label's group, else the clip's (the YouTube id), else the clip
    text: str
    scores: dict[str, float]
    template_version: str
    split: str | None = None
    profile: str = ""
    label_source: str = ""


@dataclass(frozen=True)
class Rating:
    """What the labels say about one clip key (clip name or `sha256:<hex>`)."""

    group_id: str | None
    scores: dict[str, float]  # unit space, NaN for targets not rated
    split: str | None = None
    source: str = ""


@dataclass
class Selection:
    """The examples chosen and why the other descriptions were left out."""

    examples: list[Example] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        """Count one description left out for `why`."""
        self.skipped[why] = self.skipped.get(why, 0) + 1


def split_filter(column, split: str):  # a SQLAlchemy clause  # noqa: ANN001, ANN201
    """`split` of a label column; "train" also takes labels without a split."""
    if split == "train":
        return or_(column == "train", column.is_(None))
    return column == split


def _builtin_ratings(db: Database, target_set: TargetSet, split: str | None) -> dict[str, Rating]:
    """First Impressions labels (the `labels` table), complete rows only."""
    stmt = select(Label)
    if split is not None:
        stmt = stmt.where(split_filter(Label.split, split))
    found = {}
    with db.read() as session:
        for label in session.scalars(stmt):
            scores = {t: getattr(label, t) for t in target_set.names}
            if all(v is not None for v in scores.values()):
                scores = {t: float(v) for t, v in scores.items()}
                found[label.clip_name] = Rating(label.group_id, scores, label.split, label.source)
    return found


def _study_ratings(db: Database, target_set: TargetSet, split: str | None) -> dict[str, Rating]:
    """A study's ratings in unit space; a clip may lack some targets (NaN), and one that
    rates none of the set's declared targets is left out."""
    found = {}
    for key, rating in study_ratings(db, target_set.name, split).items():
        scores = {
            t.name: t.to_unit(rating.values[t.name]) if t.name in rating.values else MISSING
            for t in target_set.targets
        }
        if any(v == v for v in scores.values()):  # NaN != NaN
            found[key] = Rating(rating.group_id, scores, rating.split)
    return found


def ratings(db: Database, target_set: TargetSet, split: str | None) -> dict[str, Rating]:
    """Every rated clip key of one set and split."""
    if target_set.builtin:
        return _builtin_ratings(db, target_set, split)
    return _study_ratings(db, target_set, split)


def select_examples(
    db: Database,
    profile: str,
    split: str | None,
    template_version: str | None = None,
    target_set: TargetSet | None = None,
) -> Selection:
    """Labelled descriptions of one profile, split and target set (default: First
    Impressions'), by clip name, and a count of the descriptions left out and why
    (another template than `template_version`, no complete label)."""
    target_set = target_set or first_impressions()
    rated = ratings(db, target_set, split)
    stmt = (
        select(Description, Video.sha256)
        .outerjoin(Video, Video.id == Description.video_id)
        .where(Description.feature_profile == profile)
        .order_by(Description.clip_name)
    )
    selection = Selection()
    with db.read() as session:
        for desc, sha in session.execute(stmt):
            rating = rated.get(desc.clip_name) or (sha and rated.get(HASH_PREFIX + sha))
            if template_version is not None and desc.template_version != template_version:
                selection.skip(f"template version {desc.template_version} is not current")
            elif not rating:
                selection.skip(NO_FULL_LABEL if target_set.builtin else "no rating in the set")
            else:
                selection.examples.append(_example(desc, rating))
    return selection


def _example(desc: Description, rating: Rating) -> Example:
    group = rating.group_id or group_of(desc.clip_name) or desc.clip_name
    return Example(desc.clip_name, group, desc.text, rating.scores, desc.template_version,
                   rating.split, desc.feature_profile, rating.source)  # fmt: skip


def load_examples(
    db: Database,
    profile: str,
    split: str | None,
    template_version: str | None = None,
    target_set: TargetSet | None = None,
) -> list[Example]:
    """The examples of `select_examples`, without the count of those left out."""
    return select_examples(db, profile, split, template_version, target_set).examples
