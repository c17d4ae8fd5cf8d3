"""The numeric head: ridge regression on the measurements a description states.

Every number in a description comes from a stage summary (speech rate, pitch, loudness,
smile share, gaze, head movement, word count...), written by the template with a stable
wording; this head reads them back as named features (section, plus the words before the
number) and fits a ridge on them, missing measurements imputed with the training mean and
flagged. It is the yardstick an LLM has to beat on the same measurements, and it works
with occlusion like any head: a removed section's numbers become missing.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daemon.config import TrainConfig
from daemon.learn.heads.base import Head, HeadRun, Prepared, Saved, Trained, groups, ridge_trained
from daemon.learn.heads.ridge import fit_ridge
from daemon.learn.metrics import Scores
from daemon.text.layout import split_sections
from storage.models import TARGETS

NAME = "ridge on the description's measurements (scikit-learn)"
_NUMBER = re.compile(r"(?<![\d-])-?\d+(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z]+")
# A comparison with the norms in words ("(faster than most)") repeats what the number says.
_WORDS_ONLY_ASIDE = re.compile(r"\([^()\d]*\)")


def measures(text: str) -> dict[str, float]:
    """{feature name: value} for every number the description states outside the quote.

    A feature is named by its section, the line's label (before the colon), the words
    since the previous number and the unit word right after it, e.g.
    `voice|speaking rate||words` or `voice|emotion heard in the voice|happy|`.
    """
    found: dict[str, float] = {}
    for section, paragraph in split_sections(text):
        if section is None:
            continue
        for line in paragraph.splitlines():
            if line.startswith('"'):  # the quoted transcript: what was said, not a measure
                continue
            _line_measures(section, _WORDS_ONLY_ASIDE.sub("", line), found)
    return found


def _line_measures(section: str, line: str, found: dict[str, float]) -> None:
    colon = line.find(":")
    # A colon that ends the line introduces what follows (the quote), it labels nothing.
    label_end = colon + 1 if 0 <= colon < len(line.rstrip()) - 1 else 0
    label = " ".join(_WORD.findall(line[:label_end])).lower()
    previous = label_end
    for match in _NUMBER.finditer(line, label_end):
        before = " ".join(_WORD.findall(line[previous : match.start()])[-3:]).lower()
        after = _WORD.match(line[match.end() :].lstrip())
        key = f"{section}|{label}|{before}|{after.group().lower() if after else ''}"
        name, n = key, 1
        while name in found:
            n += 1
            name = f"{key}#{n}"
        found[name] = float(match.group())
        previous = match.end()


class NumericModel:
    """Feature names, imputation means, scaling and ridge weights."""

    def __init__(
        self,
        names: list[str],
        center: Any,
        scale: Any,
        coef: Any,
        intercept: Any,
        targets: Sequence[str] = TARGETS,
    ) -> None:
        self.names, self.center, self.scale = names, center, scale
        self.coef, self.intercept = coef, intercept
        self.targets = tuple(targets)

    @staticmethod
    def _raw(names: Sequence[str], texts: Sequence[str]) -> Any:
        import numpy as np

        rows = [measures(t) for t in texts]
        return np.array([[row.get(n, np.nan) for n in names] for row in rows], dtype=float)

    def _matrix(self, texts: Sequence[str]) -> Any:
        """Imputed, standardised values plus a missing flag per feature."""
        import numpy as np

        raw = self._raw(self.names, texts)
        missing = np.isnan(raw)
        values = np.where(missing, self.center, raw)
        return np.hstack([(values - self.center) / self.scale, missing.astype(float)])

    @classmethod
    def fit(
        cls,
        fit_texts: Sequence[str],
        fit_y: Sequence[Scores],
        hold_texts: Sequence[str],
        hold_y: Sequence[Scores],
        groups: Sequence[str] | None = None,
        seed: int = 0,
    ) -> tuple[NumericModel, dict]:
        """Features seen in the fit rows; one alpha per target picked on the holdout, then
        a refit on all rows, with calibration scores (`fit_ridge`)."""
        import numpy as np

        names = sorted({k for t in fit_texts for k in measures(t)})
        raw = cls._raw(names, fit_texts)
        if raw.size == 0:
            raw = np.zeros((len(fit_texts), 0))
        center = np.nan_to_num(np.nanmean(raw, axis=0)) if names else np.zeros(0)
        scale = np.nan_to_num(np.nanstd(raw, axis=0)) if names else np.zeros(0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        model = cls(names, center, scale, None, None)
        fit_x, hold_x = model._matrix(fit_texts), model._matrix(hold_texts)
        (model.coef, model.intercept), info = fit_ridge(
            fit_x, fit_y, hold_x, hold_y, groups, seed=seed
        )
        model.targets = tuple(info["targets"])
        info["features"] = len(names)
        return model, info

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        """Scores for each description, clipped to [0, 1]."""
        import numpy as np

        matrix = np.clip(self._matrix(texts) @ self.coef.T + self.intercept, 0.0, 1.0)
        return [dict(zip(self.targets, map(float, row), strict=True)) for row in matrix]

    def save(self, folder: Path) -> None:
        """Everything in numeric.pkl (numpy arrays and a list of names)."""
        state = (self.names, self.center, self.scale, self.coef, self.intercept, self.targets)
        (Path(folder) / "numeric.pkl").write_bytes(pickle.dumps(state))

    @classmethod
    def load(cls, folder: Path) -> NumericModel:
        """Rebuild from a folder lprd itself wrote."""
        return cls(*pickle.loads((Path(folder) / "numeric.pkl").read_bytes()))


def train_numeric(prep: Prepared, cfg: TrainConfig, device: str = "cpu") -> Trained:
    """Ridge on the numbers the descriptions state, alpha chosen on the holdout."""
    model, info = NumericModel.fit(
        [e.text for e in prep.fit],
        [e.scores for e in prep.fit],
        [e.text for e in prep.hold],
        [e.scores for e in prep.hold],
        groups(prep),
        cfg.seed,
    )
    manifest = {"kind": HEAD.name, "base_model": NAME}
    return ridge_trained(HEAD.name, model, info, NAME, manifest, prep)


class NumericHead(Head):
    """The numeric head (see the module docstring)."""

    def train(self, prep: Prepared, run: HeadRun) -> Trained:
        return train_numeric(prep, run.config.train, run.device)

    def load(self, saved: Saved) -> NumericModel:
        return NumericModel.load(saved.folder)


HEAD = NumericHead("numeric")
