"""One training run: for each feature profile, fit every configured head on the train
split, early-stop and select on a holdout grouped by YouTube id, score on validation,
register the candidates and try to promote the best.

The test split is never read here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from daemon.config import Config, TrainConfig
from daemon.errors import StopRequested
from daemon.learn import blend, conformal, data, input_range, registry, scoring_plan, transfer
from daemon.learn.backbone import LLM_HEADS
from daemon.learn.base_cache import base_cache_dir
from daemon.learn.crossval import OutOfFold, cross_validate, grouped_folds, without_fold
from daemon.learn.data import Example
from daemon.learn.embedding import RIDGE_HEADS
from daemon.learn.isolation import (
    HeadResult,
    HeadSkipped,
    failure_reason,
    peak_rss_mb,
    run_head_in_child,
)
from daemon.learn.memory import fit_problem
from daemon.learn.metrics import Scores, baseline, evaluate, train_mean
from daemon.learn.predictor import write_manifest
from daemon.learn.progress import Budget, RunProgress, is_llm_head
from daemon.learn.uncertainty import bootstrap
from daemon.targets import TargetSet, first_impressions
from daemon.text.prompt import task_for
from storage.db import Database, utcnow

log = logging.getLogger("lprd.learn")
CROSS_VALIDATION = "grouped cross-validation"
LATER_HEAD_RESERVE_S = 30.0  # kept for each non-LLM head still to come (see llm_head_deadline)


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


def prepare(
    db: Database, profile: str, cfg: TrainConfig, target_set: TargetSet | None = None
) -> Prepared | str:
    """Load and split one profile's rows of a target set (default: First Impressions'),
    or say why it cannot be trained."""
    target_set = target_set or first_impressions()
    where = profile if target_set.builtin else f"{target_set.name}/{profile}"
    rows = data.load_examples(db, profile, "train", target_set=target_set)
    template = data.main_template(rows)
    rows = data.subsample(
        [r for r in rows if r.template_version == template], cfg.max_train_rows, cfg.seed
    )
    if len(rows) < cfg.min_train_rows:
        return f"{where}: {len(rows)} labelled training descriptions, need {cfg.min_train_rows}"
    fit, hold = data.grouped_holdout(rows, cfg.holdout_fraction, cfg.seed)
    if not fit or not hold:
        return f"{where}: too few groups (people, YouTube ids) to hold some out"
    report = data.load_examples(db, profile, "validation", template, target_set)
    split = "validation"
    if not report:  # a lab's own videos: grouped K-fold figures over every training row
        report, split = rows, CROSS_VALIDATION
    report = data.subsample(report, cfg.max_report_rows, cfg.seed)
    mean = train_mean([r.scores for r in rows])
    return Prepared(profile, template, fit, hold, report, split, mean, target_set)


def _holdout_rows(prep: Prepared, cfg: TrainConfig) -> list[Example]:
    return data.subsample(prep.hold, cfg.eval_limit, cfg.seed)


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
    from daemon.learn.embedding import (
        EmbeddingModel,
        design,
        encode_blocks,
        fit_vector_scalers,
    )
    from daemon.learn.encoders import encoders_manifest, load_encoders
    from daemon.learn.text_features import FeatureScaler

    names = RIDGE_HEADS[kind]
    base = resolve_base(cfg.base_model) if "llm" in names else None
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
    model, info = EmbeddingModel.fit(
        encoders, scaler, fit_x, fit_y, hold_x, hold_y, _groups(prep), cfg.seed, vector_scalers
    )
    base_model = " + ".join([e.description for e in encoders] + ["text measures"])
    manifest = {"kind": kind, "base_model": base_model, **encoders_manifest(encoders)}
    model.cache_dir = cache_dir
    trained = _ridge_trained(kind, model, info, base_model, manifest, fit_y + hold_y)
    return _with_clips(trained, prep)


def _groups(prep: Prepared) -> list[str]:
    """The group (YouTube id) of every training row, fit rows then holdout rows."""
    return [e.group_id for e in prep.fit + prep.hold]


def _ridge_trained(
    kind: str, model: Any, info: dict, base_model: str, manifest: dict, truth: list[Scores]
) -> Trained:
    """A fitted ridge head with its calibration scores (see embedding.fit_ridge)."""
    info.pop("holdout_predictions")
    predicted, source = info.pop("calibration_predictions"), info.pop("calibration")
    if source == "holdout":
        truth = truth[len(truth) - len(predicted) :]  # the holdout rows come last
    trained = Trained(kind, model, info["holdout_mean_accuracy"], info, base_model, manifest)
    trained.calibration, trained.calibration_source = (predicted, truth), source
    return trained


def train_blend(config: Config, db: Database, prep: Prepared, tag: str, device: str) -> Trained:
    """The run's best LLM head and its best other head, weighted per trait on held-out
    training rows (see blend.py)."""
    from daemon.learn.predictor import load_predictor

    mine = [
        row
        for row in registry.all_versions(db)
        if row.version.endswith(f"-{tag}")
        and row.feature_profile == prep.profile
        and row.target_set == prep.target_set.name
    ]
    llm, other = blend.best_of(mine, llm=True), blend.best_of(mine, llm=False)
    if llm is None or other is None:
        raise blend.NotApplicable("blend: this run trained no LLM head and other head to blend")
    clips, llm_seen, other_seen, truth, (llm_rep, other_rep), rows = blend.blend_inputs(
        other, llm, prep.hold, prep.report
    )
    weights = blend.choose_weights(llm_seen, other_seen, truth)
    held = blend.combine(llm_seen, other_seen, weights)
    cfg = config.train
    model = blend.BlendModel(
        [Path(other.path), Path(llm.path)],
        weights,
        lambda part: load_predictor(part, device, base_cache_dir(config), cfg.use_unsloth),
    )
    detail = {
        "parts": [other.version, llm.version],
        "llm_weight": weights,
        "weighted_on_rows": len(clips),
        "backend": f"blend of {other.kind} and {llm.kind}",
    }
    name = f"{other.base_model} + {llm.base_model}"
    manifest = {"kind": "blend", "base_model": name, "parts": [other.kind, llm.kind]}
    trained = Trained("blend", model, evaluate(held, truth)["mean_accuracy"], detail, name,
                      manifest, (held, truth))  # fmt: skip
    trained.calibration_source = f"{len(clips)} held-out training rows"
    trained.calibration_clips = clips
    trained.report_predictions = blend.combine(llm_rep, other_rep, weights)
    trained.report_rows = rows if len(rows) < len(prep.report) else None
    return trained


def train_numeric(prep: Prepared, cfg: TrainConfig, device: str) -> Trained:
    """Ridge on the numbers the descriptions state, alpha chosen on the holdout."""
    from daemon.learn.numeric import NAME, NumericModel

    fit_y, hold_y = [e.scores for e in prep.fit], [e.scores for e in prep.hold]
    model, info = NumericModel.fit(
        [e.text for e in prep.fit],
        fit_y,
        [e.text for e in prep.hold],
        hold_y,
        _groups(prep),
        cfg.seed,
    )
    manifest = {"kind": "numeric", "base_model": NAME}
    trained = _ridge_trained("numeric", model, info, NAME, manifest, fit_y + hold_y)
    return _with_clips(trained, prep)


def train_transfer(prep: Prepared, cfg: TrainConfig, source: transfer.FISource) -> Trained:
    """Ridge per study target on the First Impressions model's scores (transfer.py)."""
    fit_y, hold_y = [e.scores for e in prep.fit], [e.scores for e in prep.hold]
    model, info = transfer.TransferModel.fit(
        source,
        [e.text for e in prep.fit],
        fit_y,
        [e.text for e in prep.hold],
        hold_y,
        _groups(prep),
        cfg.seed,
    )
    manifest = model.manifest()
    trained = _ridge_trained(transfer.KIND, model, info, model.base_model, manifest, fit_y + hold_y)
    return _with_clips(trained, prep)


def _with_clips(trained: Trained, prep: Prepared) -> Trained:
    """Name the clips of a ridge head's calibration rows: every training row (fit, then
    holdout) out of fold, or the holdout rows alone (see embedding.fit_ridge)."""
    clips = [e.clip_name for e in prep.fit + prep.hold]
    trained.calibration_clips = clips[len(clips) - len(trained.calibration[0]) :]
    return trained


@dataclass
class _LLM:
    """A loaded LLM head before training: the model, the module the loop trains, the
    optimiser's parameter groups and what was loaded."""

    model: Any
    module: Any
    groups: list[dict]
    lm: Any
    backend: Any
    base: Any


def _load_llm(
    kind: str, prep: Prepared, cfg: TrainConfig, device: str, base_cache: Path | None
) -> _LLM:
    """Load the base through the chosen backend, check the step fits in memory, add LoRA
    and the head; HeadSkipped when the step would not fit."""
    import torch

    from daemon.learn import backbone
    from daemon.learn.generative import AnswerCodec

    torch.manual_seed(cfg.seed)
    task = task_for(prep.target_set)
    base = backbone.resolve_base(cfg.base_model)
    backend = backbone.choose_backend(cfg.use_unsloth)
    log.info("loading base model %s (%s on %s)", base.name, backend.describe(), device)
    lm, tok, backend = backbone.load_causal_lm(base, device, cfg, backend, base_cache)
    width = max(len(backbone.prompt_ids(tok, e.text, cfg.max_length, task)) for e in prep.fit)
    answer = len(AnswerCodec(tok, task).answer(prep.mean)) if kind == "generative" else 0
    problem = fit_problem(kind, lm.config, cfg, device, width, answer)
    if problem:
        raise HeadSkipped(problem)
    lm = backbone.add_lora(lm, cfg, backend)
    groups = [{"params": [p for p in lm.parameters() if p.requires_grad], "lr": cfg.learning_rate}]
    if kind == "regression":
        from daemon.learn.regression import RegressionModel, make_head

        head = make_head(lm.config.hidden_size, prep.mean).to(device)
        model = RegressionModel(lm, tok, head, cfg.max_length, task)
        groups.append({"params": list(head.parameters()), "lr": cfg.head_learning_rate})
        module = torch.nn.ModuleDict({"lm": lm, "head": head})
    else:
        from daemon.learn.generative import GenerativeModel

        model = GenerativeModel(lm, tok, cfg.max_length, task)
        model.codec.check(prep.mean)
        module = lm
    return _LLM(model, module, groups, lm, backend, base)


def plan_scoring(
    llm: _LLM, hold: list[Example], report: list[Example], cfg: TrainConfig, deadline: float | None
) -> scoring_plan.ScoringPlan:
    """How many holdout and report rows this head scores (see scoring_plan.py): all of
    them without a deadline, else as many as half the time left allows at the cost per
    row measured on a probe of holdout rows; NotApplicable when the minimum does not fit."""
    if deadline is None:
        return scoring_plan.unplanned(len(hold), len(report))
    probe = scoring_plan.sample(hold, scoring_plan.PROBE_ROWS, cfg.seed)
    llm.module.eval()
    began = time.monotonic()
    llm.model.predict([e.text for e in probe])
    s_per_row = (time.monotonic() - began) / len(probe)
    left = max(0.0, deadline - time.monotonic())
    plan = scoring_plan.plan(left, s_per_row, len(hold), len(report), len(probe))
    log.info(
        "scoring plan: %.2f s/row on %d probe rows, %.0f s left: %d of %d holdout rows per "
        "scoring, %d of %d report rows",
        s_per_row, len(probe), left, plan.holdout_rows, len(hold), plan.report_rows, len(report),
    )  # fmt: skip
    return plan


def train_llm(
    kind: str,
    prep: Prepared,
    cfg: TrainConfig,
    device: str,
    check_stop: Callable[[], None],
    base_cache: Path | None = None,
    deadline: float | None = None,
    progress: Callable[..., None] | None = None,
    checkpoints: Path | None = None,
    on_plan: Callable[[scoring_plan.ScoringPlan], None] | None = None,
) -> Trained:
    """LoRA fine-tuning with the regression or the generative head, through unsloth unless
    it cannot import or `train.use_unsloth = "never"` (the backend is recorded). With
    `checkpoints` (a folder) and `train.checkpoint_every_s`, the loop's state is saved there
    and a later run of the same training resumes from it. With a `deadline`, the holdout
    and report rows it scores are planned from a timed probe (`plan_scoring`), and
    `on_plan(plan)` hears the plan."""
    from daemon.learn import loop

    if kind == "generative":
        prep = complete_rows(prep)
    llm = _load_llm(kind, prep, cfg, device, base_cache)
    hold = _holdout_rows(prep, cfg)
    plan = plan_scoring(llm, hold, prep.report, cfg, deadline)
    if on_plan is not None:
        on_plan(plan)
    hold = scoring_plan.sample(hold, plan.holdout_rows, cfg.seed)
    report = scoring_plan.sample(prep.report, plan.report_rows, cfg.seed)
    hold_y = [e.scores for e in hold]
    best: dict[str, Any] = {"score": float("-inf"), "predicted": None}

    def score() -> float:
        # The loop keeps the weights of the best strictly-improving evaluation; keep the
        # holdout scores of that same evaluation for the conformal calibration.
        predicted = llm.model.predict([e.text for e in hold])
        value = evaluate(predicted, hold_y)["mean_accuracy"]
        if value > best["score"]:
            best["score"], best["predicted"] = value, predicted
        return value

    checkpoint = None
    if checkpoints is not None and cfg.checkpoint_every_s > 0:
        planned = plan.holdout_rows if deadline is not None else None
        checkpoint = llm_checkpoint(
            checkpoints, kind, prep, cfg, llm.backend.name, device, llm.base, planned
        )
    result = loop.fit(
        llm.module,
        llm.groups,
        prep.fit,
        lambda batch: llm.model.loss([e.text for e in batch], [e.scores for e in batch]),
        score,
        cfg,
        check_stop,
        deadline=deadline,
        reserve_factor=1.1 * len(report) / max(1, len(hold)),
        progress=progress,
        checkpoint=checkpoint,
    )
    if best["predicted"] is None or best["score"] != result.best_score:
        best["predicted"] = llm.model.predict([e.text for e in hold])  # best was before a resume
    calibration = (best["predicted"], hold_y)
    trained = Trained(kind, llm.model, result.best_score, _llm_detail(llm, result, device, plan),
                      llm.base.name, _llm_manifest(kind, llm, cfg, device, base_cache),
                      calibration)  # fmt: skip
    trained.checkpoint, trained.calibration_clips = checkpoint, [e.clip_name for e in hold]
    trained.report_rows = report if len(report) < len(prep.report) else None
    return trained


def complete_rows(prep: Prepared) -> Prepared:
    """The rows that rate every target: an answer to write needs every number (the
    regression head leaves a missing rating out of its loss instead)."""

    def complete(rows: list[Example]) -> list[Example]:
        return [e for e in rows if all(v == v for v in e.scores.values())]  # NaN != NaN

    if prep.target_set.builtin:
        return prep
    fit, hold = complete(prep.fit), complete(prep.hold)
    if not fit or not hold:
        raise HeadSkipped("generative: too few rows rate every target of the set")
    return replace(prep, fit=fit, hold=hold)


def _llm_detail(llm: _LLM, result: Any, device: str, plan: scoring_plan.ScoringPlan) -> dict:
    """How an LLM head's fit went, for its metrics (`fit`)."""
    return {
        "best_step": result.best_step,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "tokens_per_s": round(result.tokens / max(result.seconds, 1e-9), 1),
        "history": result.history,
        "resumed_from_step": result.resumed_from,
        "backend": llm.backend.name,
        "backend_reason": llm.backend.reason,
        "device": device,
        "dtype": str(next(llm.lm.parameters()).dtype).removeprefix("torch."),
        "scoring_plan": plan.detail(),
    }


def _llm_manifest(
    kind: str, llm: _LLM, cfg: TrainConfig, device: str, base_cache: Path | None
) -> dict:
    """What a saved LLM head needs to be loaded again the same way."""
    from daemon.learn import backbone

    return {
        "kind": kind,
        "base_model": llm.base.name,
        "base_source": llm.base.source,
        "gguf_file": llm.base.gguf_file,
        "base_sha256": backbone.base_digest(llm.base, base_cache),
        "backend": llm.backend.name,
        "load_in_4bit": bool(cfg.load_in_4bit and device == "cuda"),
        "max_length": cfg.max_length,
    }


def llm_checkpoint(
    folder: Path,
    kind: str,
    prep: Prepared,
    cfg: TrainConfig,
    backend: str,
    device: str,
    base: Any,
    holdout_rows: int | None = None,
) -> Any:
    """The Checkpoint of this exact training (head, base, backend, rows and settings) under
    `folder/<profile>-<kind>/`; other trainings of that head leave theirs in the same place,
    and a finished one clears them all (see train_head). `holdout_rows`: the holdout rows
    per scoring a deadline's plan chose (part of the key, so a resumed best holdout figure
    is always one of the same rows); None without a deadline."""
    from daemon.learn.checkpoint import Checkpoint, checkpoint_key, rows_digest

    settings = cfg.model_dump(
        include={
            "lora_r", "lora_alpha", "learning_rate", "head_learning_rate", "batch_size",
            "max_length", "max_steps", "epochs", "seed", "eval_every", "patience",
            "eval_limit", "gradient_checkpointing", "load_in_4bit",
        }
    )  # fmt: skip
    key = checkpoint_key(
        kind=kind,
        template=prep.template,
        base=base.name,
        backend=backend,
        device=device,
        fit=rows_digest([e.clip_name for e in prep.fit]),
        hold=rows_digest([e.clip_name for e in prep.hold]),
        settings=settings,
        **({} if holdout_rows is None else {"holdout_rows": holdout_rows}),
    )
    return Checkpoint(folder / f"{prep.profile}-{kind}", key, cfg.checkpoint_every_s)


def _calibration(trained: Trained, oof: OutOfFold | None) -> tuple[list, list, str] | None:
    """(predicted, truth, source) of the rows the conformal residuals come from."""
    if oof is not None:
        return oof.predicted, oof.truth, f"grouped {oof.folds}-fold out-of-fold rows"
    if trained.calibration is not None:
        return *trained.calibration, trained.calibration_source
    return None


def _metrics(
    trained: Trained,
    prep: Prepared,
    level: float = 0.9,
    oof: OutOfFold | None = None,
    cfg_seed: int = 0,
) -> dict:
    headline = prep.target_set.headline
    if oof is not None:
        predicted, truth, groups = oof.predicted, oof.truth, oof.groups
        base = evaluate(oof.baseline, truth, headline)
    else:
        rows = _report_rows(trained, prep)
        truth, groups = [e.scores for e in rows], [e.group_id for e in rows]
        predicted = trained.report_predictions
        if predicted is None:
            predicted = trained.model.predict([e.text for e in rows])
        trained.report_predictions = predicted  # saved beside the model, for a blend
        base = baseline([e.scores for e in prep.fit + prep.hold], truth, headline)  # same rows
    metrics = {
        "report_split": prep.report_split if oof is None else f"grouped {oof.folds}-fold CV",
        "target_set": prep.target_set.name,
        "validation": evaluate(predicted, truth, headline),
        "baseline": base,
        # How many of the report split's rows the figures (and the baseline's) are on: an
        # LLM head under a time budget scores a sample (see scoring_plan.py).
        "report_rows": {"scored": len(truth), "of": len(truth if oof is not None else prep.report)},
        "holdout_mean_accuracy": trained.holdout,
        # Group-resampled 95 % intervals beside the train mean (the baseline of a
        # cross-validated figure is each fold's own mean; here the mean of all rows).
        "bootstrap": bootstrap(predicted, truth, prep.mean, groups, headline, cfg_seed),
        "train_mean": prep.mean,
        "fit": trained.detail,
    }
    calibration = _calibration(trained, oof)
    if calibration is not None:
        widths = conformal.halfwidths(conformal.residuals(*calibration[:2]), level)
        metrics["intervals"] = {
            "level": level,
            "calibration": calibration[2],
            "calibration_rows": len(calibration[1]),
            "halfwidth": widths,
        }
        if oof is None:  # coverage on the calibration rows themselves would prove nothing
            metrics["intervals"][prep.report_split] = conformal.coverage(predicted, truth, widths)
    return metrics


def _report_rows(trained: Trained, prep: Prepared) -> list[Example]:
    """The report rows a head is scored on: all, or the sample its plan chose."""
    return prep.report if trained.report_rows is None else trained.report_rows


def save_candidate(
    config: Config,
    db: Database,
    trained: Trained,
    prep: Prepared,
    tag: str,
    oof: OutOfFold | None = None,
) -> str:
    """Score on the report split (or take the cross-validated scores), save the model
    folder with its conformal residuals and register the candidate."""
    metrics = _metrics(trained, prep, config.train.interval_level, oof, config.train.seed)
    prefix = "" if prep.target_set.builtin else f"{prep.target_set.name}-"
    version = f"{prefix}{prep.profile}-{trained.kind}-{utcnow():%Y%m%d-%H%M%S}-{tag}"
    folder = models_dir(config) / version
    folder.mkdir(parents=True, exist_ok=True)
    trained.model.save(folder)
    fitted = prep.fit if trained.kind in LLM_HEADS else prep.fit + prep.hold
    input_range.record(folder, trained.model, [e.text for e in fitted])
    calibration = _calibration(trained, oof)
    if calibration is not None:
        residuals = conformal.residuals(*calibration[:2])
        conformal.save_calibration(folder, residuals, calibration[2])
    if oof is None and trained.calibration_clips is not None:
        blend.save_predictions(folder, blend.UNSEEN, trained.calibration_clips, calibration[0])
        clips = [e.clip_name for e in _report_rows(trained, prep)]
        blend.save_predictions(folder, blend.REPORT, clips, trained.report_predictions)
    write_manifest(
        folder,
        {**trained.manifest, "profile": prep.profile, "template_version": prep.template,
         "target_set": prep.target_set.describe()},
    )  # fmt: skip
    registry.register_candidate(
        db,
        version=version,
        kind=trained.kind,
        base_model=trained.base_model,
        template_version=prep.template,
        feature_profile=prep.profile,
        target_set=prep.target_set.name,
        train_count=prep.train_count,
        metrics=metrics,
        val_mean_accuracy=metrics["validation"]["mean_accuracy"],
        path=str(folder),
    )
    log.info(
        "candidate %s: holdout %.4f, %s %.4f (baseline %.4f)",
        version,
        trained.holdout,
        prep.report_split,
        metrics["validation"]["mean_accuracy"],
        metrics["baseline"]["mean_accuracy"],
    )
    return version


def models_dir(config: Config) -> Path:
    """Where trained model folders live: in the store, which hosts that share a database
    share too (mounted at the same path), so any host loads a promoted model from the
    path its registry row records."""
    return config.store_dir / "models"


def checkpoints_dir(config: Config) -> Path:
    """Where LLM heads keep their resumable training state (see checkpoint.py)."""
    return config.home_dir / "cache" / "checkpoints"


def encodings_dir(config: Config) -> Path:
    """Where the ridge heads cache their encoders' vectors between runs."""
    return config.home_dir / "cache" / "encodings"


def train_head(
    config: Config,
    db: Database,
    prep: Prepared,
    kind: str,
    tag: str,
    device: str,
    check_stop: Callable[[], None] = lambda: None,
    deadline: float | None = None,
    publish: Callable[..., None] = lambda **_fields: None,
) -> tuple[float, str]:
    """Fit one head and register it as a candidate: (selection score, version); the score
    is the holdout's, or the cross-validated one for a profile without validation labels.

    On such a profile an LLM head is not refit once per fold: it is fitted once without
    one grouped fold and reports on that fold (see `holdout_fold`). An LLM head stops
    training early to end by `deadline` (time.monotonic()); `publish(**fields)` receives
    the head's phase, rows and training progress."""
    cfg = config.train

    def step_progress(step, total, loss, best, elapsed, eta) -> None:  # noqa: ANN001
        publish(
            phase="training",
            step=step,
            total=total,
            loss=None if loss is None else round(loss, 5),
            holdout_accuracy=round(best, 4),
            elapsed_s=round(elapsed, 1),
            eta_s=None if eta is None else round(eta, 1),
        )

    source = None
    if kind == transfer.KIND:  # the First Impressions model, loaded once for every fold
        from daemon.learn.predictor import load_predictor

        def load_fi(folder: Path) -> Any:
            model = load_predictor(folder, device, base_cache_dir(config), cfg.use_unsloth)
            if hasattr(model, "cache_dir"):  # a ridge head: the vectors this run cached
                model.cache_dir = encodings_dir(config)
            return model

        source = transfer.source_for(db, prep.profile, prep.target_set, load_fi)

    def fit(part: Prepared) -> Trained:
        if kind == transfer.KIND:
            return train_transfer(part, cfg, source)
        if kind == "blend":
            return train_blend(config, db, part, tag, device)
        if kind in RIDGE_HEADS:
            return train_ridge(
                kind, part, cfg, device, encodings_dir(config), base_cache_dir(config)
            )
        if kind == "numeric":
            return train_numeric(part, cfg, device)
        return train_llm(
            kind,
            part,
            cfg,
            device,
            check_stop,
            base_cache_dir(config),
            deadline=llm_head_deadline(db, cfg, part.profile, kind, deadline, part.target_set),
            progress=step_progress,
            checkpoints=checkpoints_dir(config),
            on_plan=lambda plan: publish(rows=planned_rows(part, plan)),
        )

    refit_per_fold = kind in RIDGE_HEADS or kind in ("numeric", transfer.KIND)
    if kind == "blend" and prep.report_split == CROSS_VALIDATION:
        raise blend.NotApplicable("blend: needs a validation split (this profile has none)")
    if prep.report_split == CROSS_VALIDATION and not refit_per_fold:
        prep = holdout_fold(prep, cfg)
    rows = {"fit": len(prep.fit), "holdout": len(prep.hold), "report": len(prep.report)}
    publish(phase="training" if refit_per_fold else "loading", rows=rows)
    trained = fit(prep)
    oof = None
    if prep.report_split == CROSS_VALIDATION:
        oof = cross_validate(prep, cfg.cv_folds, cfg.holdout_fraction, cfg.seed, fit)
    trained.detail["peak_rss_mb"] = round(peak_rss_mb())
    publish(phase="scoring validation", eta_s=None)
    version = save_candidate(config, db, trained, prep, tag, oof)
    if trained.checkpoint is not None:  # saved: no run needs any checkpoint of this head
        trained.checkpoint.clear()
    if oof is not None:  # heads compete on their cross-validated figure, not the holdout
        return evaluate(oof.predicted, oof.truth)["mean_accuracy"], version
    return trained.holdout, version


def planned_rows(prep: Prepared, plan: scoring_plan.ScoringPlan) -> dict[str, Any]:
    """The rows an LLM head works on, for its progress: "64/900 holdout" when sampled."""

    def rows(n: int, of: int) -> int | str:
        return n if n >= of else f"{n}/{of}"

    return {
        "fit": len(prep.fit),
        "holdout": rows(plan.holdout_rows, len(prep.hold)),
        "report": rows(plan.report_rows, len(prep.report)),
    }


def llm_head_deadline(
    db: Database,
    cfg: TrainConfig,
    profile: str,
    kind: str,
    deadline: float | None,
    target_set: TargetSet | None = None,
) -> float | None:
    """This LLM head's share of what is left of the run's budget (None: no deadline).

    What is left, less `LATER_HEAD_RESERVE_S` for each non-LLM head still to come (this
    profile's heads after this one, every head of the later profiles with enough rows),
    is shared equally among this head and the LLM heads still to come: the first LLM head
    would otherwise spend the whole budget and leave none for the next. A head that ends
    early leaves its unused time to the next."""
    if deadline is None:
        return None
    heads, profiles = list(cfg.heads), list(cfg.profiles)
    later = heads[heads.index(kind) + 1 :] if kind in heads else []
    for other in profiles[profiles.index(profile) + 1 :] if profile in profiles else []:
        if not isinstance(prepare(db, other, cfg, target_set), str):
            later += heads
    llm_heads = 1 + sum(is_llm_head(k) for k in later)
    others = sum(not is_llm_head(k) for k in later)
    now = time.monotonic()
    share = max(0.0, deadline - now - LATER_HEAD_RESERVE_S * others) / llm_heads
    if llm_heads > 1 or others:
        log.info(
            "%s head: %.0f s of the %.0f s left (%d LLM heads, %d other heads to come)",
            kind, share, deadline - now, llm_heads - 1, others,
        )  # fmt: skip
    return now + share


def holdout_fold(prep: Prepared, cfg: TrainConfig) -> Prepared:
    """The rows of a profile without validation labels, for a head too slow to refit per
    fold (an LLM head): one grouped fold (of `cfg.cv_folds`, by YouTube id) is the report
    rows, the rest is split again into fit and early-stopping holdout, and the baseline is
    the mean of the rest."""
    folds = grouped_folds(prep.fit + prep.hold, cfg.cv_folds, cfg.seed)
    if len(folds) < 2:
        raise ValueError("too few groups to hold a fold out")
    part = without_fold(prep, folds, 0, cfg.holdout_fraction, cfg.seed)
    return replace(part, report_split=f"grouped holdout fold ({len(part.report)} rows)")


def _head_in_process(
    config: Config,
    db: Database,
    prep: Prepared,
    kind: str,
    tag: str,
    device: str,
    check_stop,  # noqa: ANN001
    budget: Budget | None = None,
) -> HeadResult:
    """One head in this process, with the same failure boundary as a child process."""
    result, start = HeadResult(prep.profile, kind), time.monotonic()
    deadline = budget.deadline if budget else None
    try:
        result.holdout, result.version = train_head(
            config, db, prep, kind, tag, device, check_stop, deadline
        )
    except (StopRequested, KeyboardInterrupt):
        raise
    except blend.NotApplicable as exc:
        result.skipped = str(exc)
    except Exception as exc:  # noqa: BLE001 - one head's failure must not end the run
        log.exception("the %s head failed", kind)
        result.error = failure_reason(exc, kind, peak_rss_mb())
    result.seconds, result.peak_rss_mb = time.monotonic() - start, peak_rss_mb()
    return result


@dataclass
class TrainingReport:
    """What a run did: one line per event, and every head's outcome."""

    messages: list[str] = field(default_factory=list)
    heads: list[HeadResult] = field(default_factory=list)

    @property
    def failures(self) -> list[HeadResult]:
        """Heads that failed (a head skipped for the time budget is not one)."""
        return [h for h in self.heads if h.error]

    @property
    def skipped(self) -> list[HeadResult]:
        """Heads not started, e.g. for lack of the time budget."""
        return [h for h in self.heads if h.skipped and not h.error]


def train_profile(
    config: Config,
    db: Database,
    profile: str,
    tag: str,
    device: str,
    check_stop: Callable[[], None] = lambda: None,
    config_file: Path | None = None,
    budget: Budget | None = None,
    run_id: int | None = None,
    target_set: TargetSet | None = None,
) -> TrainingReport:
    """Train every head for one profile of a target set (default: First Impressions'),
    each behind its own failure boundary (its own process when `config_file` is given).
    Each candidate is promoted as soon as it is ready if it beats the promoted model of
    its set and profile and the train-mean baseline on validation.

    A head is skipped (not failed: it is not retried) when too little of the run's time
    `budget` is left to start it; `run_id`: the run whose progress the heads publish."""
    cfg = config.train
    budget = budget or Budget.start(cfg.time_budget_s)
    progress = RunProgress(db, run_id, budget)
    report = TrainingReport()
    prep = prepare(db, profile, cfg, target_set)
    if isinstance(prep, str):
        report.messages.append(f"skipped {prep}")
        return report
    set_name = None if prep.target_set.builtin else prep.target_set.name
    report.messages.append(
        f"{prep.label}: {len(prep.fit)} fit + {len(prep.hold)} holdout rows "
        f"(template {prep.template}), reporting on {len(prep.report)} {prep.report_split} rows"
    )
    for kind in transfer.heads_for(db, profile, prep.target_set, cfg.heads):
        skipped = budget.skip_reason(kind)
        if skipped is not None:
            head = HeadResult(profile, kind, skipped=skipped)
            progress.head(profile, kind, phase="skipped", reason=skipped)
        elif config_file is not None:
            progress.head(profile, kind, phase="loading")
            left = None if budget.deadline is None else budget.left()
            head = run_head_in_child(
                config_file, profile, kind, tag, device, check_stop, run_id, left, set_name
            )
        else:
            head = _head_in_process(config, db, prep, kind, tag, device, check_stop, budget)
        if skipped is None:
            phase = "done" if head.version else "skipped" if head.skipped else "failed"
            reason = head.error or head.skipped
            progress.head(profile, kind, phase=phase, reason=reason, eta_s=None)
        check_stop()
        report.heads.append(head)
        report.messages.append(head.line())
        if head.version:  # serve a better model at once, not after the slowest head
            report.messages.append(registry.promote_if_better(db, head.version).reason)
    statement = no_head_beats_baseline(db, report.heads)
    if statement:
        report.messages.append(f"{prep.label}: {statement}")
    return report


def no_head_beats_baseline(db: Database, heads: list[HeadResult]) -> str | None:
    """The plain sentence when no trained head beats the train mean on any target (by its
    bootstrap interval), else None."""
    from daemon.learn.report import heads_statement

    boots = {}
    for head in heads:
        row = registry.get_version(db, head.version) if head.version else None
        found = json.loads(row.metrics_json or "{}").get("bootstrap") if row else None
        if found:
            boots[head.kind] = found
    return heads_statement(boots)


def run_training(
    config: Config,
    db: Database,
    tag: str,
    device: str,
    check_stop: Callable[[], None] = lambda: None,
    config_file: Path | None = None,
    run_id: int | None = None,
    target_set: TargetSet | None = None,
) -> TrainingReport:
    """Train every configured profile of a target set (default: First Impressions'); with
    `config_file`, each head in its own process.

    The run's time budget (`train.time_budget_s`) counts from here over every profile and
    head; `run_id`: the run whose progress the heads publish."""
    if config.train.threads:
        import torch

        torch.set_num_threads(config.train.threads)
    report = TrainingReport()
    budget = Budget.start(config.train.time_budget_s)
    for profile in config.train.profiles:
        part = train_profile(
            config, db, profile, tag, device, check_stop, config_file, budget, run_id, target_set
        )
        report.messages += part.messages
        report.heads += part.heads
    for line in report.messages:
        log.info("%s", line)
    return report
