"""A rough estimate of an LLM head's peak training memory, checked before it starts.

Weights at the dtype they are loaded in, activations kept for the backward pass (the
per-layer figure of Korthikanti et al., "Reducing Activation Recomputation in Large
Transformer Models", scaled to the dtype), the LoRA optimiser state and the Python/torch
runtime. It errs on the high side; a head that does not fit is skipped with the figures.
"""

from __future__ import annotations

from typing import Any

from daemon.config import TrainConfig

RUNTIME_BYTES = 900 * 2**20  # interpreter, torch, tokenizer, data, the embedding encoder


def parameter_count(conf: Any) -> int:
    """Parameters of a decoder-only transformer from its config."""
    h, layers = conf.hidden_size, conf.num_hidden_layers
    heads = conf.num_attention_heads
    kv = getattr(conf, "num_key_value_heads", None) or heads
    inter = getattr(conf, "intermediate_size", None) or 4 * h
    head_dim = getattr(conf, "head_dim", None) or h // heads
    attention = h * heads * head_dim * 2 + h * kv * head_dim * 2
    per_layer = attention + 3 * h * inter + 2 * h
    tied = getattr(conf, "tie_word_embeddings", True)
    return conf.vocab_size * h * (1 if tied else 2) + layers * per_layer + h


def estimate_peak_bytes(conf: Any, cfg: TrainConfig, device: str, four_bit: bool) -> int:
    """Peak memory of one LoRA training step plus evaluation, in bytes."""
    weight_bytes = 0.5 if four_bit else (2 if device == "cuda" else 4)
    weights = parameter_count(conf) * weight_bytes
    return int(weights + activation_bytes(conf, cfg, device) + RUNTIME_BYTES)


def available_bytes(device: str) -> int:
    """Memory free for a new process: MemAvailable, or free GPU memory on CUDA."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise OSError("/proc/meminfo has no MemAvailable line")


def activation_bytes(conf: Any, cfg: TrainConfig, device: str) -> int:
    """Activations one training step keeps for the backward pass, in bytes."""
    act_bytes = 2 if device == "cuda" else 4
    s, b, h = cfg.max_length + 32, cfg.batch_size, conf.hidden_size
    heads = conf.num_attention_heads
    per_layer = s * b * h * (34 + 5 * heads * s / h) * act_bytes / 2
    return int(per_layer * conf.num_hidden_layers)


def fit_problem(kind: str, conf: Any, cfg: TrainConfig, device: str) -> str | None:
    """Why the `kind` head cannot train in the memory free now (its base model already
    loaded, so only the training step's own memory is still to come), or None."""
    need, free = activation_bytes(conf, cfg, device), available_bytes(device)
    if need <= free:
        return None
    return (
        f"skipped the {kind} head: a training step needs about {need / 2**30:.1f} GB at batch "
        f"{cfg.batch_size} and {cfg.max_length} tokens, and {free / 2**30:.1f} GB is free"
    )
