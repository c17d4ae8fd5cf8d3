"""A rough estimate of an LLM head's training memory, checked before it starts.

The base model is already loaded when the check runs, so what is still to come is a
training step's activations, kept for the backward pass: the per-layer figure of
Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models",
scaled to the dtype. It errs on the high side; a head that does not fit in the memory
that is free is skipped with both figures.
"""

from __future__ import annotations

from typing import Any

from daemon.config import TrainConfig


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
