"""`lprd eval`: score a model version on a labelled split beside the train-mean baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.errors import LprdError
from daemon.learn import data, registry
from daemon.learn.conformal import coverage, halfwidths, load_calibration
from daemon.learn.metrics import baseline, evaluate, train_mean
from daemon.learn.predictor import load_predictor
from daemon.learn.uncertainty import bootstrap
from daemon.targets import TargetSet
from storage.db import Database
from storage.models import BUILTIN_SET


def pick_model(
    db: Database, version: str | None, profile: str | None, target_set: str | None = None
) -> Any:
    """The named version, or the promoted one of a target set (default: the built-in
    one), of `profile` or of any profile."""
    if version:
        row = registry.get_version(db, version)
        if row is None:
            raise LprdError(f"no model version {version!r}; `lprd models` lists them")
        return row
    wanted = target_set or BUILTIN_SET
    with db.read() as session:
        rows = list(session.scalars(registry.promoted_query(profile, wanted)))
    if not rows:
        where = "" if wanted == BUILTIN_SET else f" for the target set {wanted!r}"
        raise LprdError(f"no model promoted yet{where}: import labels and run `lprd train`")
    return min(rows, key=lambda r: r.feature_profile)  # 'full' before 'transcript_only'


def evaluate_version(
    db: Database,
    row: Any,
    split: str,
    device: str = "cpu",
    level: float = 0.9,
    base_cache: Path | None = None,
    target_set: TargetSet | None = None,
) -> dict[str, Any]:
    """Accuracy and Pearson r of `row` on `split`, the train-mean baseline on those clips,
    the empirical coverage and mean width of the model's `level` intervals there, and
    (`bootstrap`) MAE and r per target with bootstrap intervals over the clips' groups
    beside the baseline's, with a verdict. `target_set`: the set `row` was trained on
    (default: the built-in one)."""
    if target_set is not None and target_set.builtin:
        target_set = None  # the default everywhere below
    by_set = {"target_set": target_set} if target_set is not None else {}
    rows = data.load_examples(db, row.feature_profile, split, row.template_version, **by_set)
    if not rows:
        raise LprdError(
            f"no labelled '{row.feature_profile}' descriptions (template {row.template_version}) "
            f"in the {split} split; import its labels first"
        )
    train = data.load_examples(db, row.feature_profile, "train", row.template_version, **by_set)
    predictor = load_predictor(row.path, device, base_cache)
    truth = [e.scores for e in rows]
    predicted = predictor.predict([e.text for e in rows])
    calibration = load_calibration(row.path)
    intervals = None
    if calibration is not None:
        intervals = {"level": level, **coverage(predicted, truth, halfwidths(calibration, level))}
    train_scores = [e.scores for e in train]
    # A study's set says which targets the mean averages; the built-in one leaves it to
    # metrics' default (the five traits).
    by_headline = {"headline": target_set.headline} if target_set is not None else {}
    model = evaluate(predicted, truth, **by_headline)
    return {
        "version": row.version,
        "head": row.kind,
        "feature_profile": row.feature_profile,
        "split": split,
        "model": model,
        "baseline": baseline(train_scores, truth, **by_headline),
        "intervals": intervals,
        "bootstrap": bootstrap(
            predicted,
            truth,
            train_mean(train_scores),
            [e.group_id for e in rows],
            by_headline.get("headline"),
        ),
    }
