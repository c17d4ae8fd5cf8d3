"""The `fi_transfer` head: a study's targets from the First Impressions model's scores.

A study rates 30-300 of its own videos; the built-in First Impressions model learned from
thousands. This head reads each of the study's descriptions with the promoted First
Impressions model of the same feature profile and fits, per study target, a ridge on its
six scores (standardised on the training rows), alpha chosen on the holdout and the
calibration scores made out of fold exactly as for the other ridge heads (`fit_ridge`).
The First Impressions scores of a description do not depend on the fold, so they are
computed once per training (`FISource` memoises them) and every grouped fold refits a
ridge on six columns.

`TransferModel.fit(measures=True)` adds the text measures of the ridge heads
(`FeatureScaler`) beside the six scores; the head uses the six scores alone
(`MEASURES`). On studies of 60, 100, 150 and 200 First Impressions validation clips
(five draws each, transcript-only, the promoted embedding model trained on the 6,000
training clips) rated hireability = 1 + 6 x interview + noise (sd 0.5), grouped 5-fold
hireability MAE on the 1-7 scale was 0.793, 0.775, 0.771, 0.760 with the six scores,
0.856, 0.783, 0.809, 0.766 with the measures beside them, against the train mean's
0.853, 0.801, 0.802, 0.793 and the embedding head's 0.862, 0.800, 0.823, 0.813.

A saved model records the First Impressions version it read and that version's folder
(manifest `fi_model`), and loads that folder at prediction time whatever its state: a
retired model keeps its folder while its registry row exists. A store moved to another
path is found by the version's name beside the transfer model's own folder.

It applies to study sets only (the built-in set would predict its own model's scores),
and only when First Impressions has a promoted model of the profile: otherwise the head
is skipped (`NotApplicable`) with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from daemon.config import TrainConfig
from daemon.config.targets import BUILTIN_SET, FI_COLUMNS
from daemon.errors import PermanentError
from daemon.learn.heads import base
from daemon.learn.heads.base import Head, HeadRun, NotApplicable, Prepared, Saved, Trained
from daemon.learn.heads.ridge import _rows, fit_ridge
from daemon.learn.metrics import Scores
from daemon.learn.text_features import FeatureScaler

KIND = "fi_transfer"
MEASURES = False  # the text measures beside the six scores (see the module docstring)
SPEC = "transfer.json"
WEIGHTS = "transfer.npz"
Loader = Callable[[Path], Any]  # a model folder -> its predictor


def skip_reason(db: Any, profile: str, target_set: Any) -> str | None:
    """Why the head cannot train for this profile of `target_set`, or None."""
    from daemon.learn import registry

    if target_set.builtin:
        return f"{KIND}: transfers First Impressions' scores to a study's targets (not to its own)"
    if registry.promoted(db, profile, BUILTIN_SET) is None:
        return (
            f"{KIND}: no promoted First Impressions model of the {profile} profile to "
            "transfer from (`lprd train` trains one from First Impressions labels)"
        )
    return None


def heads_for(
    db: Any, profile: str, target_set: Any, heads: Sequence[str], is_llm: Callable[[str], bool]
) -> list[str]:
    """The heads to train: the configured ones, and for a study's set `fi_transfer` too
    when First Impressions has a promoted model of the profile and the configuration
    does not place it itself (before the LLM heads, `is_llm`, and the blend, which may
    take it as its non-LLM part)."""
    heads = list(heads)
    if KIND in heads or skip_reason(db, profile, target_set) is not None:
        return heads
    at = next((i for i, k in enumerate(heads) if is_llm(k) or k == "blend"), len(heads))
    return [*heads[:at], KIND, *heads[at:]]


class FISource:
    """One First Impressions model version, loaded once, its scores of each text kept."""

    def __init__(self, reference: dict[str, Any], predictor: Any) -> None:
        self.reference, self.predictor = reference, predictor
        self._memo: dict[str, tuple[float, ...]] = {}

    @property
    def version(self) -> str:
        return self.reference["version"]

    def matrix(self, texts: Sequence[str]) -> Any:
        """(rows, 6): the model's First Impressions scores of each text, FI_COLUMNS order."""
        import numpy as np

        new = sorted({t for t in texts if t not in self._memo})
        if new:
            for text, scores in zip(new, self.predictor.predict(new), strict=True):
                self._memo[text] = tuple(float(scores[c]) for c in FI_COLUMNS)
        return np.array([self._memo[t] for t in texts], dtype=np.float64).reshape(
            len(texts), len(FI_COLUMNS)
        )


def source_for(db: Any, profile: str, target_set: Any, load: Loader) -> FISource:
    """The promoted First Impressions model of `profile`, loaded with `load(folder)`;
    NotApplicable (see `skip_reason`) when there is none or the set is the built-in one."""
    from daemon.learn import registry

    reason = skip_reason(db, profile, target_set)
    if reason is not None:
        raise NotApplicable(reason)
    row = registry.promoted(db, profile, BUILTIN_SET)
    reference = {
        "version": row.version,
        "path": str(row.path),
        "kind": row.kind,
        "profile": row.feature_profile,
        "template_version": row.template_version,
        "val_mean_accuracy": row.val_mean_accuracy,
    }
    return FISource(reference, load(Path(row.path)))


class TransferModel:
    """Ridge per study target on the First Impressions model's standardised scores (and
    optionally the text measures); the First Impressions model is loaded when first
    needed through `loader`, from the folder its reference records."""

    def __init__(
        self,
        reference: dict[str, Any],
        center: Any,
        scale: Any,
        scaler: FeatureScaler | None,
        coef: Any,
        intercept: Any,
        targets: Sequence[str],
        source: FISource | None = None,
        loader: Loader | None = None,
        folder: Path | None = None,
    ) -> None:
        self.reference, self.center, self.scale, self.scaler = reference, center, scale, scaler
        self.coef, self.intercept, self.targets = coef, intercept, tuple(targets)
        self._source, self._loader, self._folder = source, loader, folder

    @property
    def base_model(self) -> str:
        """What it reads, in words."""
        measures = " + text measures" if self.scaler is not None else ""
        ref = self.reference
        return f"First Impressions model {ref['version']} ({ref['kind']}){measures}"

    def source(self) -> FISource:
        """The First Impressions model, loaded on first use."""
        if self._source is None:
            if self._loader is None:
                raise PermanentError(f"{KIND}: no way to load {self.reference['version']}")
            self._source = FISource(self.reference, self._loader(self._fi_folder()))
        return self._source

    def _fi_folder(self) -> Path:
        """The recorded folder, or one of that name beside this model's (a moved store)."""
        recorded = Path(self.reference["path"])
        if recorded.is_dir():
            return recorded
        if self._folder is not None:
            beside = Path(self._folder).parent / self.reference["version"]
            if beside.is_dir():
                return beside
        raise PermanentError(
            f"{KIND}: the First Impressions model {self.reference['version']} it reads is "
            f"gone from {recorded}; retrain the study's set with `lprd train --set`"
        )

    def _design(self, fi: Any, texts: Sequence[str]) -> Any:
        import numpy as np

        parts = [(fi - self.center) / self.scale]
        if self.scaler is not None:
            parts.append(self.scaler.transform(texts))
        return np.hstack(parts)

    @classmethod
    def fit(
        cls,
        source: FISource,
        fit_texts: Sequence[str],
        fit_y: Sequence[Scores],
        hold_texts: Sequence[str],
        hold_y: Sequence[Scores],
        groups: Sequence[str] | None = None,
        seed: int = 0,
        measures: bool | None = None,
    ) -> tuple[TransferModel, dict]:
        """Standardise the scores on the training rows, pick each target's alpha on the
        holdout and refit on all rows, with calibration scores (`fit_ridge`); with
        `measures` (default `MEASURES`) the text measures too."""
        import numpy as np

        measures = MEASURES if measures is None else measures
        texts = [*fit_texts, *hold_texts]
        fi = source.matrix(texts)
        spread = fi.std(axis=0)
        scaler = FeatureScaler.fit(texts) if measures else None
        model = cls(source.reference, fi.mean(axis=0), np.where(spread > 1e-9, spread, 1.0),
                    scaler, None, None, (), source)  # fmt: skip
        x = model._design(fi, texts)
        n = len(fit_texts)
        (model.coef, model.intercept), info = fit_ridge(
            x[:n], fit_y, x[n:], hold_y, groups, seed=seed
        )
        model.targets = tuple(info["targets"])
        info["fi_model"] = source.version
        info["features"] = x.shape[1]
        return model, info

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        """Scores of each description in unit space, clipped to [0, 1]."""
        texts = list(texts)
        x = self._design(self.source().matrix(texts), texts)
        return _rows(x @ self.coef.T + self.intercept, self.targets)

    def manifest(self) -> dict[str, Any]:
        """The manifest's part: the head and the First Impressions model it reads."""
        return {"kind": KIND, "base_model": self.base_model, "fi_model": dict(self.reference)}

    def save(self, folder: Path) -> None:
        """Weights and scaling in transfer.npz, the First Impressions reference in
        transfer.json."""
        import numpy as np

        arrays = {"center": self.center, "scale": self.scale, "coef": self.coef,
                  "intercept": self.intercept, "targets": np.array(self.targets)}  # fmt: skip
        if self.scaler is not None:
            arrays |= {"feature_mean": self.scaler.mean, "feature_scale": self.scaler.scale}
        np.savez(Path(folder) / WEIGHTS, **arrays)
        (Path(folder) / SPEC).write_text(json.dumps({"fi_model": self.reference}, indent=1))

    @classmethod
    def load(cls, folder: Path, loader: Loader) -> TransferModel:
        """A saved model; `loader(folder)` loads the First Impressions model when first
        needed."""
        import numpy as np

        folder = Path(folder)
        reference = json.loads((folder / SPEC).read_text())["fi_model"]
        with np.load(folder / WEIGHTS) as data:
            scaler = None
            if "feature_mean" in data:
                scaler = FeatureScaler(data["feature_mean"], data["feature_scale"])
            targets = tuple(str(t) for t in data["targets"])
            return cls(reference, data["center"], data["scale"], scaler, data["coef"],
                       data["intercept"], targets, loader=loader, folder=folder)  # fmt: skip


def train_transfer(prep: Prepared, cfg: TrainConfig, source: FISource) -> Trained:
    """Ridge per study target on the First Impressions model's scores."""
    fit_y, hold_y = [e.scores for e in prep.fit], [e.scores for e in prep.hold]
    model, info = TransferModel.fit(
        source,
        [e.text for e in prep.fit],
        fit_y,
        [e.text for e in prep.hold],
        hold_y,
        base.groups(prep),
        cfg.seed,
    )
    return base.ridge_trained(KIND, model, info, model.base_model, model.manifest(), prep)


class TransferHead(Head):
    """The fi_transfer head (see the module docstring)."""

    def fitter(self, run: HeadRun, prep: Prepared) -> Callable[[Prepared], Trained]:
        """The First Impressions model, loaded once for every fold."""

        def load_fi(folder: Path) -> Any:
            model = run.load_model(folder)
            if hasattr(model, "cache_dir"):  # a ridge head: the vectors this run cached
                model.cache_dir = run.encodings
            return model

        source = source_for(run.db, prep.profile, prep.target_set, load_fi)
        return lambda part: train_transfer(part, run.config.train, source)

    def load(self, saved: Saved) -> TransferModel:
        return TransferModel.load(saved.folder, saved.load_part)


HEAD = TransferHead(KIND)
