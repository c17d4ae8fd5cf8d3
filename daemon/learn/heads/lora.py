"""The shared LoRA trainer of the LLM heads (regression, generative): load the base
through the chosen backend (unsloth, or transformers + peft), check the training step fits
in memory, add LoRA and the head, plan how many holdout and report rows to score within
the head's deadline, run the training loop with checkpoints, and load a saved LLM head's
base again the way it was trained.

An LLM head module defines its model class and an `LLMHead`: the head-specific parts
(`build`: the model around the loaded LM) and the rest is here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.config import TrainConfig
from daemon.learn import scoring_plan
from daemon.learn.data import Example
from daemon.learn.heads.base import (
    Head,
    HeadRun,
    HeadSkipped,
    Prepared,
    Saved,
    Trained,
    holdout_rows,
)
from daemon.learn.memory import fit_problem
from daemon.learn.metrics import Scores, evaluate
from daemon.text.prompt import task_for

log = logging.getLogger("lprd.learn")


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


@dataclass(frozen=True)
class Built:
    """An LLM head's model around the LoRA-wrapped LM: the model, the module the loop
    trains and the optimiser's parameter groups beside the LoRA weights'."""

    model: Any
    module: Any
    groups: list[dict]


@dataclass(frozen=True)
class LLMHead(Head):
    """A head that fine-tunes the LLM with LoRA through the shared trainer here; its
    module says how its model is built around the LM and loaded back."""

    llm: bool = True
    refit_per_fold: bool = False  # fitted once without one fold (see trainer.holdout_fold)

    def rows(self, prep: Prepared) -> Prepared:
        """The rows this head can train on (all, by default)."""
        return prep

    def answer_tokens(self, tok: Any, task: Any, prep: Prepared) -> int:
        """Tokens of the answer the head writes after the prompt (0: it writes none)."""
        return 0

    def build(self, lm: Any, tok: Any, prep: Prepared, cfg: TrainConfig, task: Any,
              device: str) -> Built:  # fmt: skip
        """The model around the LoRA-wrapped `lm`."""
        raise NotImplementedError

    def restore(self, folder: Path, lm: Any, tok: Any, max_length: int) -> Any:
        """The saved model in `folder` around the loaded base."""
        raise NotImplementedError

    def train(self, prep: Prepared, run: HeadRun) -> Trained:
        def step_progress(step, total, loss, best, elapsed, eta) -> None:  # noqa: ANN001
            run.publish(
                phase="training",
                step=step,
                total=total,
                loss=None if loss is None else round(loss, 5),
                holdout_accuracy=round(best, 4),
                elapsed_s=round(elapsed, 1),
                eta_s=None if eta is None else round(eta, 1),
            )

        return train_llm(
            self,
            prep,
            run.config.train,
            run.device,
            run.check_stop,
            run.base_cache,
            deadline=run.deadline,
            progress=step_progress,
            checkpoints=run.checkpoints,
            on_plan=lambda plan: run.publish(rows=planned_rows(prep, plan)),
        )

    def load(self, saved: Saved) -> Any:
        lm, tok, max_length = load_base(
            saved.manifest, saved.device, saved.base_cache, saved.use_unsloth
        )
        return self.restore(saved.folder, lm, tok, max_length)


def load_base(
    manifest: dict[str, Any], device: str, base_cache: Path | None, use_unsloth: str
) -> tuple[Any, Any, int]:
    """(LM, tokenizer, max_length) of a saved LLM head: its base through the backend it
    was trained with (see predictor.load_predictor)."""
    from daemon.learn.backbone import BaseSpec, backend_named, load_causal_lm

    base = BaseSpec(manifest["base_model"], manifest["base_source"], manifest.get("gguf_file"))
    max_length = int(manifest["max_length"])
    cfg = TrainConfig(
        use_unsloth=use_unsloth,
        max_length=max_length,
        load_in_4bit=bool(manifest.get("load_in_4bit", False)),
    )
    backend = backend_named(manifest.get("backend"), use_unsloth)
    lm, tok, _ = load_causal_lm(base, device, cfg, backend, base_cache)
    return lm, tok, max_length


def _load_llm(
    head: LLMHead, prep: Prepared, cfg: TrainConfig, device: str, base_cache: Path | None
) -> _LLM:
    """Load the base through the chosen backend, check the step fits in memory, add LoRA
    and the head; HeadSkipped when the step would not fit."""
    import torch

    from daemon.learn import backbone

    torch.manual_seed(cfg.seed)
    task = task_for(prep.target_set)
    base = backbone.resolve_base(cfg.base_model, base_cache)
    backend = backbone.choose_backend(cfg.use_unsloth)
    log.info("loading base model %s (%s on %s)", base.name, backend.describe(), device)
    lm, tok, backend = backbone.load_causal_lm(base, device, cfg, backend, base_cache)
    width = max(len(backbone.prompt_ids(tok, e.text, cfg.max_length, task)) for e in prep.fit)
    answer = head.answer_tokens(tok, task, prep)
    problem = fit_problem(head.name, lm.config, cfg, device, width, answer)
    if problem:
        raise HeadSkipped(problem)
    lm = backbone.add_lora(lm, cfg, backend)
    groups = [{"params": [p for p in lm.parameters() if p.requires_grad], "lr": cfg.learning_rate}]
    built = head.build(lm, tok, prep, cfg, task, device)
    return _LLM(built.model, built.module, groups + built.groups, lm, backend, base)


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
    head: LLMHead,
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
    """LoRA fine-tuning with an LLM head (regression, generative), through unsloth unless
    it cannot import or `train.use_unsloth = "never"` (the backend is recorded). With
    `checkpoints` (a folder) and `train.checkpoint_every_s`, the loop's state is saved there
    and a later run of the same training resumes from it. With a `deadline`, the holdout
    and report rows it scores are planned from a timed probe (`plan_scoring`), and
    `on_plan(plan)` hears the plan."""
    from daemon.learn import loop

    kind = head.name
    prep = head.rows(prep)
    llm = _load_llm(head, prep, cfg, device, base_cache)
    hold = holdout_rows(prep, cfg.eval_limit, cfg.seed)
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
    unseen, predicted = hold, best["predicted"]
    if deadline is None:
        unseen, predicted = _score_rest_of_holdout(llm.model, prep.hold, hold, predicted)
    calibration = (predicted, [e.scores for e in unseen])
    detail = _llm_detail(llm, result, device, plan) | {"unseen_rows": len(unseen)}
    trained = Trained(kind, llm.model, result.best_score, detail,
                      llm.base.name, _llm_manifest(kind, llm, cfg, device, base_cache),
                      calibration)  # fmt: skip
    trained.checkpoint, trained.calibration_clips = checkpoint, [e.clip_name for e in unseen]
    trained.report_rows = report if len(report) < len(prep.report) else None
    return trained


def _score_rest_of_holdout(
    model: Any, holdout: list[Example], scored: list[Example], predicted: list[Scores]
) -> tuple[list[Example], list[Scores]]:
    """Every held-out row with the final model's scores: the rows early stopping scored
    (`scored`, `predicted`) and the rest, scored once now. Without a time budget this is
    cheap beside the training, and the blend's weights and the conformal intervals then
    rest on the whole holdout, not on the `train.eval_limit` rows early stopping read."""
    seen = {e.clip_name for e in scored}
    rest = [e for e in holdout if e.clip_name not in seen]
    if not rest:
        return scored, predicted
    return scored + rest, predicted + model.predict([e.text for e in rest])


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


def planned_rows(prep: Prepared, plan: scoring_plan.ScoringPlan) -> dict[str, Any]:
    """The rows an LLM head works on, for its progress: "64/900 holdout" when sampled."""

    def rows(n: int, of: int) -> int | str:
        return n if n >= of else f"{n}/{of}"

    return {
        "fit": len(prep.fit),
        "holdout": rows(plan.holdout_rows, len(prep.hold)),
        "report": rows(plan.report_rows, len(prep.report)),
    }
