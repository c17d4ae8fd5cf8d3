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

from daemon.config import Config, TrainConfig
from daemon.errors import StopRequested
from daemon.learn import conformal, data, input_range, registry
from daemon.learn.base_cache import base_cache_dir
from daemon.learn.crossval import OutOfFold, cross_validate, grouped_folds, without_fold
from daemon.learn.data import Example
from daemon.learn.heads import HEADS, transfer
from daemon.learn.heads.base import (
    CROSS_VALIDATION,
    HeadRun,
    NotApplicable,
    Prepared,
    Trained,
)
from daemon.learn.jobs.isolation import (
    HeadResult,
    failure_reason,
    peak_rss_mb,
    run_head_in_child,
)
from daemon.learn.metrics import baseline, evaluate, train_mean
from daemon.learn.predictions import REPORT, UNSEEN, save_predictions
from daemon.learn.predictor import load_predictor, write_manifest
from daemon.learn.progress import Budget, RunProgress, is_llm_head
from daemon.learn.uncertainty import bootstrap
from daemon.targets import TargetSet, first_impressions
from storage.db import Database, utcnow

log = logging.getLogger("lprd.learn")
LATER_HEAD_RESERVE_S = 30.0  # kept for each non-LLM head still to come (see llm_head_deadline)


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
    boot_base = prep.mean if oof is None else oof.baseline
    metrics = {
        "report_split": prep.report_split if oof is None else f"grouped {oof.folds}-fold CV",
        "target_set": prep.target_set.name,
        "validation": evaluate(predicted, truth, headline),
        "baseline": base,
        # How many of the report split's rows the figures (and the baseline's) are on: an
        # LLM head under a time budget scores a sample (see scoring_plan.py).
        "report_rows": {"scored": len(truth), "of": len(truth if oof is not None else prep.report)},
        "holdout_mean_accuracy": trained.holdout,
        # Group-resampled 95 % intervals beside the train mean: of the fit rows, or for a
        # cross-validated figure each fold's own (the other folds' mean, row by row).
        "bootstrap": bootstrap(predicted, truth, boot_base, groups, headline, cfg_seed),
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
    fitted = prep.fit if is_llm_head(trained.kind) else prep.fit + prep.hold
    input_range.record(folder, trained.model, [e.text for e in fitted])
    calibration = _calibration(trained, oof)
    if calibration is not None:
        residuals = conformal.residuals(*calibration[:2])
        conformal.save_calibration(folder, residuals, calibration[2])
    if oof is None and trained.calibration_clips is not None:
        save_predictions(folder, UNSEEN, trained.calibration_clips, calibration[0])
        clips = [e.clip_name for e in _report_rows(trained, prep)]
        save_predictions(folder, REPORT, clips, trained.report_predictions)
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
    head = HEADS[kind]
    if head.needs_validation and prep.report_split == CROSS_VALIDATION:
        raise NotApplicable(f"{kind}: needs a validation split (this profile has none)")
    bases = base_cache_dir(config)
    run = HeadRun(
        config=config,
        db=db,
        tag=tag,
        device=device,
        check_stop=check_stop,
        deadline=deadline,
        publish=publish,
        load_model=lambda folder: load_predictor(folder, device, bases, cfg.use_unsloth),
        is_llm=is_llm_head,
        base_cache=bases,
        encodings=encodings_dir(config),
        checkpoints=checkpoints_dir(config),
    )
    fit = head.fitter(run, prep)
    if prep.report_split == CROSS_VALIDATION and not head.refit_per_fold:
        prep = holdout_fold(prep, cfg)
    rows = {"fit": len(prep.fit), "holdout": len(prep.hold), "report": len(prep.report)}
    publish(phase="training" if head.refit_per_fold else "loading", rows=rows)
    if head.llm:  # its share of what is left of the run's budget
        run.deadline = llm_head_deadline(db, cfg, prep.profile, kind, deadline, prep.target_set)
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
    except NotApplicable as exc:
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
    for kind in transfer.heads_for(db, profile, prep.target_set, cfg.heads, is_llm_head):
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
    for statement in baseline_statements(db, report.heads):
        report.messages.append(f"{prep.label}: {statement}")
    return report


def baseline_statements(db: Database, heads: list[HeadResult]) -> list[str]:
    """The plain sentences about the trained heads' bootstrap figures: that no head beats
    the train mean on any target, that the figures rest on too few people."""
    from daemon.learn.report import few_groups_statement, heads_statement

    boots = {}
    for head in heads:
        row = registry.get_version(db, head.version) if head.version else None
        found = json.loads(row.metrics_json or "{}").get("bootstrap") if row else None
        if found:
            boots[head.kind] = found
    said = [heads_statement(boots)]
    if boots:  # every head is scored on the same report rows: one warning says it
        said.append(few_groups_statement(min(boots.values(), key=lambda b: b["groups"])))
    return [s for s in said if s]


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
