"""Grouped K-fold cross-validation, for profiles without an official validation split.

A lab's own labelled videos have no validation split; figures on the holdout used for
early stopping or alpha selection would be in-sample and optimistic. Instead each head is
refit K times, each time without one fold of YouTube ids (or label groups), and scored on
that fold; the out-of-fold scores give the reported accuracy, the baseline (the mean of
the other folds) and the conformal calibration.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from daemon.learn.data import Example, grouped_holdout
from daemon.learn.metrics import Scores, train_mean


@dataclass
class OutOfFold:
    """Scores of every row by a model that never saw its group."""

    predicted: list[Scores]
    truth: list[Scores]
    baseline: list[Scores]  # the train mean of the other folds, per row
    folds: int
    groups: list[str] = field(default_factory=list)  # each row's group (person, YouTube id)


def fold_of_groups(groups: Sequence[str], k: int, seed: int) -> dict[str, int]:
    """Each group's fold, at most `k` folds of shuffled groups."""
    distinct = sorted(set(groups))
    random.Random(seed).shuffle(distinct)
    k = max(1, min(k, len(distinct)))
    return {g: i % k for i, g in enumerate(distinct)}


def grouped_folds(rows: list[Example], k: int, seed: int) -> list[list[Example]]:
    """At most `k` folds; all rows of one group fall in the same fold."""
    fold_of = fold_of_groups([e.group_id for e in rows], k, seed)
    folds: list[list[Example]] = [[] for _ in range(max(fold_of.values(), default=0) + 1)]
    for row in rows:
        folds[fold_of[row.group_id]].append(row)
    return folds


def without_fold(
    prep: Any, folds: list[list[Example]], i: int, holdout_fraction: float, seed: int
) -> Any:
    """`prep` to be fitted without fold `i`: the other folds split again into fit and
    early-stopping holdout, fold `i` the report rows, the baseline the others' mean."""
    rest = [e for j, other in enumerate(folds) if j != i for e in other]
    inner_fit, inner_hold = grouped_holdout(rest, holdout_fraction, seed)
    if not inner_fit or not inner_hold:
        raise ValueError("too few groups to hold a fold out and some more for early stopping")
    return replace(
        prep,
        fit=inner_fit,
        hold=inner_hold,
        report=folds[i],
        mean=train_mean([e.scores for e in rest]),
    )


def cross_validate(
    prep: Any, k: int, holdout_fraction: float, seed: int, fit: Callable[[Any], Any]
) -> OutOfFold:
    """Refit with `fit(prepared)` once per fold of `prep`'s rows; score the left-out fold."""
    result = OutOfFold([], [], [], 0)
    folds = grouped_folds(prep.fit + prep.hold, k, seed)
    for i, fold in enumerate(folds):
        part = without_fold(prep, folds, i, holdout_fraction, seed)
        model = fit(part).model
        result.predicted += model.predict([e.text for e in fold])
        result.truth += [e.scores for e in fold]
        result.baseline += [part.mean] * len(fold)
        result.groups += [e.group_id for e in fold]
    result.folds = len(folds)
    return result
