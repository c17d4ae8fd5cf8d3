"""The `blend` head: the fine-tuned LLM in the ensemble.

After a run's other heads, `blend` takes the run's best LLM head (regression or
generative) and its best other head (a ridge head, by holdout accuracy), and weighs them
per trait: score = w * LLM + (1 - w) * other, with w in 0, 0.1, ..., 1 chosen on training
rows that neither was fitted on (the LLM's early-stopping holdout, scored by the ridge
out of fold): the smallest w within two standard errors (clustered by person) of the best,
so a gain within noise leaves the trait to the other head. Its validation figure combines
the two heads' own validation scores, so nothing is predicted twice; it competes for
promotion like any head, and a w of 0 on every trait equals the ridge head, which a tie
never displaces.

Each candidate keeps the scores of the training rows it was not fitted on, by clip name
(`unseen_predictions.json`), and its validation scores (`report_predictions.json`); a
blend copies both parts' model folders into its own, so it serves on its own. An LLM head
trained under a time budget scores a sample of the validation rows: the blend's figure
(and its baseline) is then on the rows both parts scored.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from daemon.learn.heads.base import Head, HeadRun, NotApplicable, Prepared, Saved, Trained
from daemon.learn.metrics import Scores, evaluate, present
from daemon.learn.predictions import REPORT, UNSEEN, load_predictions

KIND = "blend"
SPEC = "blend.json"
WEIGHTS = tuple(i / 10 for i in range(11))
MIN_ROWS = 20
# How many clustered standard errors a larger LLM weight must gain by to be taken over a
# smaller one: roughly a one-sided 98 % test per trait (an LLM that only adds noise got a
# weight above 0 on 4 of 240 simulated traits).
NOISE_SE = 2.0


def combine(llm: Sequence[Scores], other: Sequence[Scores], w: dict[str, float]) -> list[Scores]:
    """Per target: w * llm + (1 - w) * other."""
    return [
        {t: w[t] * a[t] + (1 - w[t]) * b[t] for t in w} for a, b in zip(llm, other, strict=True)
    ]


def choose_weights(
    llm: Sequence[Scores],
    other: Sequence[Scores],
    truth: Sequence[Scores],
    groups: Sequence[str] | None = None,
) -> dict[str, float]:
    """Per target, the smallest LLM weight whose mean absolute error on these rows is within
    NOISE_SE standard errors of the best weight's.

    A few hundred held-out rows rank weights noisily: taking the minimum alone gave weights
    of 0.1-0.4 whose gain did not hold on validation. The standard error of the paired
    difference is clustered by `groups` (people, YouTube ids: one row each when None), so a
    gain resting on one person's clips counts as noise. A tie goes to the smaller weight:
    the cheaper, more stable model wins."""
    groups = list(groups) if groups is not None else [str(i) for i in range(len(truth))]
    weights = {}
    for t in truth[0]:
        rated = [i for i, y in enumerate(truth) if present(y[t])]
        errors = [
            [abs(w * llm[i][t] + (1 - w) * other[i][t] - truth[i][t]) for i in rated]
            for w in WEIGHTS
        ]
        means = [sum(e) / max(1, len(e)) for e in errors]
        best = min(range(len(WEIGHTS)), key=lambda i: (means[i], i))
        cluster = [groups[i] for i in rated]
        weights[t] = next(
            WEIGHTS[i]
            for i in range(best + 1)
            if means[i] - means[best] <= NOISE_SE * clustered_se(errors[i], errors[best], cluster)
        )
    return weights


def clustered_se(a: Sequence[float], b: Sequence[float], groups: Sequence[str]) -> float:
    """Standard error of mean(a - b), rows paired, clustered by group (0 with one group)."""
    n, diff = len(a), [x - y for x, y in zip(a, b, strict=True)]
    if n == 0:
        return 0.0
    mean = sum(diff) / n
    sums: dict[str, list[float]] = {}
    for g, d in zip(groups, diff, strict=True):
        total = sums.setdefault(g, [0.0, 0.0])
        total[0], total[1] = total[0] + d, total[1] + 1
    if len(sums) < 2:
        return 0.0
    spread = sum((s - k * mean) ** 2 for s, k in sums.values())
    return (len(sums) / (len(sums) - 1) * spread) ** 0.5 / n


class BlendModel:
    """Two saved models and per-target weights; loads its parts when first asked."""

    def __init__(self, parts: Sequence[Path], weights: dict[str, float], loader: Any) -> None:
        self.parts, self.weights, self.loader = [Path(p) for p in parts], weights, loader
        self._loaded: list[Any] | None = None

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        """The weighted scores of the LLM part (second) and the other part (first)."""
        if self._loaded is None:
            self._loaded = [self.loader(part) for part in self.parts]
        other, llm = (model.predict(list(texts)) for model in self._loaded)
        return combine(llm, other, self.weights)

    def save(self, folder: Path) -> None:
        """Copy both parts into parts/0 (other) and parts/1 (LLM), and the weights."""
        for i, part in enumerate(self.parts):
            shutil.copytree(part, folder / "parts" / str(i), dirs_exist_ok=True)
        (folder / SPEC).write_text(json.dumps({"weights": self.weights}, indent=1))

    @classmethod
    def load(cls, folder: Path, loader: Any) -> BlendModel:
        """A saved blend; `loader(part_folder)` rebuilds each part."""
        spec = json.loads((Path(folder) / SPEC).read_text())
        parts = [Path(folder) / "parts" / "0", Path(folder) / "parts" / "1"]
        return cls(parts, spec["weights"], loader)


def best_of(candidates: Sequence[Any], llm: bool, is_llm: Callable[[str], bool]) -> Any | None:
    """The candidate with the best holdout figure among the LLM heads (`is_llm`), or among
    the others."""
    chosen = [c for c in candidates if is_llm(c.kind) == llm and c.kind != KIND]
    return max(chosen, key=_holdout, default=None)


def _holdout(row: Any) -> float:
    return json.loads(row.metrics_json or "{}").get("holdout_mean_accuracy") or 0.0


def blend_inputs(
    other: Any, llm: Any, hold: Sequence[Any], report: Sequence[Any]
) -> tuple[list, list, list, list, list, list]:
    """(held-out rows, their LLM scores, other scores, truth, report scores by both, the
    report rows both scored) from the two candidates' saved predictions.

    An LLM head trained under a time budget scores a sample of the report rows (see
    scoring_plan.py): the blend is scored on the report rows both parts scored, and its
    figure and baseline are on those rows. NotApplicable when the parts share too few
    held-out or report rows."""
    seen = [load_predictions(Path(r.path), UNSEEN) for r in (llm, other)]
    shared = [e for e in hold if e.clip_name in seen[0] and e.clip_name in seen[1]]
    if len(shared) < MIN_ROWS:
        raise NotApplicable(
            f"blend: {llm.version} and {other.version} share {len(shared)} held-out rows "
            f"(need {MIN_ROWS})"
        )
    reported = [load_predictions(Path(r.path), REPORT) for r in (llm, other)]
    rows = [e for e in report if e.clip_name in reported[0] and e.clip_name in reported[1]]
    if len(rows) < MIN_ROWS:
        raise NotApplicable(
            f"blend: {llm.version} and {other.version} both scored {len(rows)} of the "
            f"{len(report)} validation rows (need {MIN_ROWS})"
        )
    return (
        shared,
        [seen[0][e.clip_name] for e in shared],
        [seen[1][e.clip_name] for e in shared],
        [e.scores for e in shared],
        [[r[e.clip_name] for e in rows] for r in reported],
        rows,
    )


def train_blend(prep: Prepared, run: HeadRun) -> Trained:
    """The run's best LLM head and its best other head, weighted per trait on held-out
    training rows."""
    from daemon.learn import registry

    mine = [
        row
        for row in registry.all_versions(run.db)
        if row.version.endswith(f"-{run.tag}")
        and row.feature_profile == prep.profile
        and row.target_set == prep.target_set.name
    ]
    llm, other = best_of(mine, True, run.is_llm), best_of(mine, False, run.is_llm)
    if llm is None or other is None:
        raise NotApplicable("blend: this run trained no LLM head and other head to blend")
    shared, llm_seen, other_seen, truth, (llm_rep, other_rep), rows = blend_inputs(
        other, llm, prep.hold, prep.report
    )
    weights = choose_weights(llm_seen, other_seen, truth, [e.group_id for e in shared])
    clips = [e.clip_name for e in shared]
    held = combine(llm_seen, other_seen, weights)
    model = BlendModel([Path(other.path), Path(llm.path)], weights, run.load_model)
    detail = {
        "parts": [other.version, llm.version],
        "llm_weight": weights,
        "weighted_on_rows": len(clips),
        "weight_rule": f"smallest within {NOISE_SE:g} clustered standard errors of the best",
        "backend": f"blend of {other.kind} and {llm.kind}",
    }
    name = f"{other.base_model} + {llm.base_model}"
    manifest = {"kind": KIND, "base_model": name, "parts": [other.kind, llm.kind]}
    trained = Trained(KIND, model, evaluate(held, truth)["mean_accuracy"], detail, name,
                      manifest, (held, truth))  # fmt: skip
    trained.calibration_source = f"{len(clips)} held-out training rows"
    trained.calibration_clips = clips
    trained.report_predictions = combine(llm_rep, other_rep, weights)
    trained.report_rows = rows if len(rows) < len(prep.report) else None
    return trained


class BlendHead(Head):
    """The blend head (see the module docstring)."""

    def train(self, prep: Prepared, run: HeadRun) -> Trained:
        return train_blend(prep, run)

    def load(self, saved: Saved) -> BlendModel:
        return BlendModel.load(saved.folder, saved.load_part)


HEAD = BlendHead(KIND, refit_per_fold=False, needs_validation=True)
