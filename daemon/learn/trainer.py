"""One training run: for each feature profile, fit every configured head on the train
split, early-stop and select on a holdout grouped by YouTube id, score on validation,
register the candidates and try to promote the best.

The test split is never read here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.config import Config, TrainConfig
from daemon.errors import PermanentError
from daemon.learn import conformal, data, registry
from daemon.learn.data import Example
from daemon.learn.embedding import RIDGE_HEADS
from daemon.learn.metrics import Scores, baseline, evaluate, train_mean
from daemon.learn.predictor import write_manifest
from storage.db import Database, utcnow

log = logging.getLogger("lprd.learn")


@dataclass
class Prepared:
    """The rows of one profile, split for fitting, early stopping and reporting."""

    profile: str
    template: str
    fit: list[Example]
    hold: list[Example]
    report: list[Example]
    report_split: str  # "validation", or "holdout" when no validation labels exist
    mean: Scores

    @property
    def train_count(self) -> int:
        return len(self.fit) + len(self.hold)


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


def prepare(db: Database, profile: str, cfg: TrainConfig) -> Prepared | str:
    """Load and split one profile's rows, or say why it cannot be trained."""
    rows = data.load_examples(db, profile, "train")
    template = data.main_template(rows)
    rows = data.subsample(
        [r for r in rows if r.template_version == template], cfg.max_train_rows, cfg.seed
    )
    if len(rows) < cfg.min_train_rows:
        return f"{profile}: {len(rows)} labelled training descriptions, need {cfg.min_train_rows}"
    fit, hold = data.grouped_holdout(rows, cfg.holdout_fraction, cfg.seed)
    if not fit or not hold:
        return f"{profile}: too few YouTube ids to hold some out for early stopping"
    report = data.load_examples(db, profile, "validation", template)
    split = "validation"
    if not report:
        report, split = hold, "holdout"
    report = data.subsample(report, cfg.max_report_rows, cfg.seed)
    mean = train_mean([r.scores for r in rows])
    return Prepared(profile, template, fit, hold, report, split, mean)


def _holdout_rows(prep: Prepared, cfg: TrainConfig) -> list[Example]:
    return data.subsample(prep.hold, cfg.eval_limit, cfg.seed)


def train_ridge(
    kind: str, prep: Prepared, cfg: TrainConfig, device: str, cache_dir: Path | None = None
) -> Trained:
    """A ridge head: its encoders' vectors plus the text measures, alphas on the holdout."""
    from daemon.learn.backbone import resolve_base
    from daemon.learn.embedding import EmbeddingModel, design
    from daemon.learn.encoders import encoders_manifest, load_encoders
    from daemon.learn.text_features import FeatureScaler

    names = RIDGE_HEADS[kind]
    base = resolve_base(cfg.base_model) if "llm" in names else None
    encoders = load_encoders(names, device, base)
    scaler = FeatureScaler.fit([e.text for e in prep.fit + prep.hold])
    fit_x = design(encoders, scaler, [e.text for e in prep.fit], cache_dir)
    hold_x = design(encoders, scaler, [e.text for e in prep.hold], cache_dir)
    hold_y = [e.scores for e in prep.hold]
    model, info = EmbeddingModel.fit(
        encoders, scaler, fit_x, [e.scores for e in prep.fit], hold_x, hold_y
    )
    calibration = (info.pop("holdout_predictions"), hold_y)
    base_model = " + ".join([e.description for e in encoders] + ["text measures"])
    manifest = {"kind": kind, "base_model": base_model, **encoders_manifest(encoders)}
    model.cache_dir = cache_dir
    return Trained(
        kind, model, info["holdout_mean_accuracy"], info, base_model, manifest, calibration
    )


def train_llm(
    kind: str, prep: Prepared, cfg: TrainConfig, device: str, check_stop: Callable[[], None]
) -> Trained:
    """LoRA fine-tuning with the regression or the generative head."""
    import torch

    from daemon.learn import backbone, loop

    torch.manual_seed(cfg.seed)
    base = backbone.resolve_base(cfg.base_model)
    unsloth = backbone.use_unsloth(cfg, device)
    log.info("loading base model %s (%s)", base.name, "unsloth" if unsloth else "transformers")
    lm, tok = backbone.load_causal_lm(base, device, cfg)
    lm = backbone.add_lora(lm, cfg, unsloth)
    lora_params = [p for p in lm.parameters() if p.requires_grad]
    groups = [{"params": lora_params, "lr": cfg.learning_rate}]
    if kind == "regression":
        from daemon.learn.regression import RegressionModel, make_head

        head = make_head(lm.config.hidden_size, prep.mean).to(device)
        model = RegressionModel(lm, tok, head, cfg.max_length)
        groups.append({"params": list(head.parameters()), "lr": cfg.head_learning_rate})
        module = torch.nn.ModuleDict({"lm": lm, "head": head})
    else:
        from daemon.learn.generative import GenerativeModel

        model = GenerativeModel(lm, tok, cfg.max_length)
        model.codec.check(prep.mean)
        module = lm
    hold = _holdout_rows(prep, cfg)
    hold_y = [e.scores for e in hold]
    best: dict[str, Any] = {"score": float("-inf"), "predicted": None}

    def score() -> float:
        # The loop keeps the weights of the best strictly-improving evaluation; keep the
        # holdout scores of that same evaluation for the conformal calibration.
        predicted = model.predict([e.text for e in hold])
        value = evaluate(predicted, hold_y)["mean_accuracy"]
        if value > best["score"]:
            best["score"], best["predicted"] = value, predicted
        return value

    result = loop.fit(
        module,
        groups,
        prep.fit,
        lambda batch: model.loss([e.text for e in batch], [e.scores for e in batch]),
        score,
        cfg,
        check_stop,
    )
    detail = {
        "best_step": result.best_step,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "tokens_per_s": round(result.tokens / max(result.seconds, 1e-9), 1),
        "history": result.history,
        "backend": "unsloth" if unsloth else "transformers+peft",
        "device": device,
    }
    manifest = {
        "kind": kind,
        "base_model": base.name,
        "base_source": base.source,
        "gguf_file": base.gguf_file,
        "max_length": cfg.max_length,
    }
    calibration = (best["predicted"], hold_y)
    return Trained(kind, model, result.best_score, detail, base.name, manifest, calibration)


def _metrics(trained: Trained, prep: Prepared, level: float) -> dict:
    truth = [e.scores for e in prep.report]
    predicted = trained.model.predict([e.text for e in prep.report])
    metrics = {
        "report_split": prep.report_split,
        "validation": evaluate(predicted, truth),
        "baseline": baseline([e.scores for e in prep.fit + prep.hold], truth),
        "holdout_mean_accuracy": trained.holdout,
        "train_mean": prep.mean,
        "fit": trained.detail,
    }
    if trained.calibration is not None:
        widths = conformal.halfwidths(conformal.residuals(*trained.calibration), level)
        metrics["intervals"] = {
            "level": level,
            "calibration": "holdout",
            "calibration_rows": len(trained.calibration[1]),
            "halfwidth": widths,
            prep.report_split: conformal.coverage(predicted, truth, widths),
        }
    return metrics


def save_candidate(config: Config, db: Database, trained: Trained, prep: Prepared, tag: str) -> str:
    """Score on the report split, save the model folder and register the candidate."""
    metrics = _metrics(trained, prep, config.train.interval_level)
    version = f"{prep.profile}-{trained.kind}-{utcnow():%Y%m%d-%H%M%S}-{tag}"
    folder = models_dir(config) / version
    folder.mkdir(parents=True, exist_ok=True)
    trained.model.save(folder)
    if trained.calibration is not None:
        conformal.save_calibration(folder, conformal.residuals(*trained.calibration), "holdout")
    write_manifest(
        folder,
        {**trained.manifest, "profile": prep.profile, "template_version": prep.template},
    )
    registry.register_candidate(
        db,
        version=version,
        kind=trained.kind,
        base_model=trained.base_model,
        template_version=prep.template,
        feature_profile=prep.profile,
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
    """Where trained model folders live."""
    return config.home_dir / "models"


def encodings_dir(config: Config) -> Path:
    """Where the ridge heads cache their encoders' vectors between runs."""
    return config.home_dir / "cache" / "encodings"


def train_profile(
    config: Config,
    db: Database,
    profile: str,
    tag: str,
    device: str,
    check_stop: Callable[[], None] = lambda: None,
) -> list[str]:
    """Train every head for one profile; promote the holdout winner if it earns it."""
    cfg = config.train
    prep = prepare(db, profile, cfg)
    if isinstance(prep, str):
        return [f"skipped {prep}"]
    messages = [
        f"{profile}: {len(prep.fit)} fit + {len(prep.hold)} holdout rows "
        f"(template {prep.template}), reporting on {len(prep.report)} {prep.report_split} rows"
    ]
    candidates: list[tuple[float, str]] = []
    for kind in cfg.heads:
        start = time.monotonic()
        try:
            if kind in RIDGE_HEADS:
                trained = train_ridge(kind, prep, cfg, device, encodings_dir(config))
            else:
                trained = train_llm(kind, prep, cfg, device, check_stop)
            version = save_candidate(config, db, trained, prep, tag)
        except PermanentError as exc:  # e.g. a tokenizer without digit tokens: other heads go on
            messages.append(f"{profile} {kind} head not trained: {exc}")
            continue
        candidates.append((trained.holdout, version))
        messages.append(
            f"{version}: holdout {trained.holdout:.4f} in {time.monotonic() - start:.0f} s"
        )
    if not candidates:
        return messages
    best = max(candidates)[1]
    messages.append(registry.promote_if_better(db, best).reason)
    return messages


def run_training(
    config: Config,
    db: Database,
    tag: str,
    device: str,
    check_stop: Callable[[], None] = lambda: None,
) -> list[str]:
    """Train every configured profile; returns one line per event worth reporting."""
    if config.train.threads:
        import torch

        torch.set_num_threads(config.train.threads)
    messages: list[str] = []
    for profile in config.train.profiles:
        messages += train_profile(config, db, profile, tag, device, check_stop)
    for line in messages:
        log.info("%s", line)
    return messages
