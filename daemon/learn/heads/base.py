"""What every prediction head shares: the rows it trains on (`Prepared`), what it hands
back (`Trained`), what the run lends it (`HeadRun`) and the `Head` description the
registry (heads/__init__.py) lists.

A head is one module in this package: its model class (fit, predict, save, load) and one
`Head` object that trains it on a profile's rows and loads it back from a saved folder.
The trainer (daemon/learn/trainer.py) and the predictor (daemon/learn/predictor.py) ask
the registry for the head by name; neither names a head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.config import Config
from daemon.errors import PermanentError
from daemon.learn.data import Example
from daemon.learn.metrics import Scores
from daemon.targets import TargetSet, first_impressions
from storage.db import Database

CROSS_VALIDATION = "grouped cross-validation"


class NotApplicable(PermanentError):  # noqa: N818 - a skip, not an error
    """The head has nothing to do in this run, or no time left to do it: skipped, not
    failed, and not retried."""


class HeadSkipped(PermanentError):  # noqa: N818 - a signal, not a failure
    """A head that was not started, e.g. because it cannot fit in the memory that is free."""


@dataclass
class Prepared:
    """The rows of one profile, split for fitting, early stopping and reporting."""

    profile: str
    template: str
    fit: list[Example]
    hold: list[Example]
    report: list[Example]
    report_split: str  # "validation", or CROSS_VALIDATION when no validation labels exist
    mean: Scores
    target_set: TargetSet = field(default_factory=first_impressions)

    @property
    def train_count(self) -> int:
        return len(self.fit) + len(self.hold)

    @property
    def label(self) -> str:
        """The profile, prefixed with a study's set ('hiring/transcript_only')."""
        return self.profile if self.target_set.builtin else f"{self.target_set.name}/{self.profile}"


@dataclass
class Trained:
    """A fitted head before it is saved: holdout score and details of the fit."""

    kind: str
    model: Any
    holdout: float
    detail: dict
    base_model: str
    manifest: dict
    # Scores of rows the model was not fitted on, with their labels: conformal calibration.
    calibration: tuple[list[Scores], list[Scores]] | None = None
    calibration_source: str = "holdout"
    checkpoint: Any = None  # an LLM head's Checkpoint, deleted once the candidate is saved
    calibration_clips: list[str] | None = None  # the clips of the calibration rows
    report_predictions: list[Scores] | None = None  # known before scoring (a blend's)
    report_rows: list[Example] | None = None  # the report rows it scores, when not all


@dataclass
class HeadRun:
    """What a training run lends the head it trains: where it is, what it may read and
    the callbacks it reports through."""

    config: Config
    db: Database
    tag: str  # the run's tag, the end of every version it registers
    device: str
    check_stop: Callable[[], None]
    deadline: float | None  # time.monotonic() by which this head ends (an LLM head's share)
    publish: Callable[..., None]  # the head's progress fields (phase, rows, step...)
    load_model: Callable[[Path], Any]  # a saved model folder -> its predictor
    is_llm: Callable[[str], bool]  # whether a head name is an LLM head
    base_cache: Path  # dequantised GGUF bases (see base_cache.py)
    encodings: Path  # the ridge heads' cached encoder vectors
    checkpoints: Path  # the LLM heads' resumable training state


@dataclass(frozen=True)
class Saved:
    """A saved model folder as the predictor opens it, and what loading it may need."""

    folder: Path
    manifest: dict[str, Any]  # its manifest.json
    device: str
    base_cache: Path | None  # dequantised GGUF bases
    use_unsloth: str  # train.use_unsloth: the backend an LLM head loads through
    # Loads another saved model folder (the parts of a blend, the model a transfer reads).
    load_part: Callable[[Path], Any]


@dataclass(frozen=True)
class Head:
    """One prediction head, as the trainer and the predictor see it."""

    name: str
    llm: bool = False  # fine-tunes the LLM (LoRA): a share of the time budget, memory checks
    # Refit on every grouped fold when a profile has no validation labels; a head too slow
    # for that is fitted once without one fold and reports on that fold.
    refit_per_fold: bool = True
    needs_validation: bool = False  # skipped (NotApplicable) on a profile without one

    def fitter(self, run: HeadRun, prep: Prepared) -> Callable[[Prepared], Trained]:
        """The function that fits this head on a profile's rows or on one fold's; what it
        needs once for every fold is loaded here."""
        return lambda part: self.train(part, run)

    def train(self, prep: Prepared, run: HeadRun) -> Trained:
        """Fit the head on `prep.fit`, early-stopping or choosing on `prep.hold`."""
        raise NotImplementedError

    def load(self, saved: Saved) -> Any:
        """The model saved in `saved.folder`, ready to predict."""
        raise NotImplementedError


def holdout_rows(prep: Prepared, limit: int, seed: int) -> list[Example]:
    """The early-stopping holdout rows an LLM head scores (at most `limit`)."""
    from daemon.learn import data

    return data.subsample(prep.hold, limit, seed)


def groups(prep: Prepared) -> list[str]:
    """The group (YouTube id) of every training row, fit rows then holdout rows."""
    return [e.group_id for e in prep.fit + prep.hold]


def ridge_trained(
    kind: str, model: Any, info: dict, base_model: str, manifest: dict, prep: Prepared
) -> Trained:
    """A fitted ridge head with its calibration scores and their clips (see
    ridge.fit_ridge): every training row (fit, then holdout) out of fold, or the holdout
    rows alone."""
    truth = [e.scores for e in prep.fit + prep.hold]
    info.pop("holdout_predictions")
    predicted, source = info.pop("calibration_predictions"), info.pop("calibration")
    if source == "holdout":
        truth = truth[len(truth) - len(predicted) :]  # the holdout rows come last
    trained = Trained(kind, model, info["holdout_mean_accuracy"], info, base_model, manifest)
    trained.calibration, trained.calibration_source = (predicted, truth), source
    clips = [e.clip_name for e in prep.fit + prep.hold]
    trained.calibration_clips = clips[len(clips) - len(predicted) :]
    return trained
