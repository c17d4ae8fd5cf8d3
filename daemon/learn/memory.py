"""An LLM head's training memory, estimated before it starts and checked against the
memory that is free.

The base model is already loaded when the check runs, so what is still to come is one
training step: the activations kept for the backward pass, for batch x width token slots
(width: the longest prompt among the training rows, within train.max_length, plus the
answer for the generative head), and the generative head's answer logits.

Calibrated on SmolLM2-135M (hidden 576, 30 layers), fp32 on CPU, batch 8, slots padded to
214 tokens, the training process's VmHWM against its resident memory once the base model
was loaded (1.42 GB), heap growth excluded (daemon/learn/heap.py):
- without gradient checkpointing: +2.31 GiB = 1.42 MB per slot = 20.5 hidden-size vectors
  per layer (Korthikanti et al.'s 34 sbh half-precision bytes, 17 vectors, is close; their
  attention-score term does not apply: SDPA keeps no score matrix);
- with gradient checkpointing: +0.27 GiB = 0.17 MB per slot = 1.7 vectors per layer (its
  input, kept, plus its gradient) besides one layer's full set, recomputed at a time.
The former estimate (Korthikanti's figure with the score term, at train.max_length + 32
tokens) predicted 10.7 GB for batch 8 / 512 tokens on First Impressions, whose prompts are
at most 235 tokens: this one says 0.3 GB with checkpointing, 2.3 GB without.

Checked since on a step of batch 8 with the eight longest First Impressions transcripts
(max_length 512, checkpointing on, VmHWM reset after loading), estimate against measured:
Gemma 3 270M through unsloth bf16 (hidden 640, 18 layers, a 262k-token vocabulary), the
generative head 1.75 / 1.46 GiB (mostly its answer logits) and the regression head 0.23 /
0.10 GiB; SmolLM2 through unsloth, generative 0.67 / 0.36 and regression 0.30 / 0.15 GiB;
SmolLM2 through transformers + peft, generative 0.67 / 0.42 GiB. The estimate stays on the
safe side for both bases and backends.
"""

from __future__ import annotations

from typing import Any

from daemon.config import TrainConfig

LAYER_VECTORS = 20.5  # hidden-size vectors one layer keeps per token slot (measured)
CHECKPOINT_VECTORS = 2.0  # with checkpointing, per layer (measured 1.7, rounded up)
LOGIT_COPIES = 3  # answer logits, their softmax and its gradient


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


def step_bytes(conf: Any, cfg: TrainConfig, device: str, width: int, answer_tokens: int = 0) -> int:
    """Memory one training step adds to the loaded model, in bytes: `width` is the longest
    prompt in tokens, `answer_tokens` the answer's length (generative head only)."""
    act = 2 if device == "cuda" else 4
    h, layers = conf.hidden_size, conf.num_hidden_layers
    slots = cfg.batch_size * (min(width, cfg.max_length) + answer_tokens)
    if cfg.gradient_checkpointing:
        vectors = layers * CHECKPOINT_VECTORS + LAYER_VECTORS
    else:
        vectors = layers * LAYER_VECTORS
    logits = cfg.batch_size * answer_tokens * conf.vocab_size * 4 * LOGIT_COPIES
    return int(slots * h * act * vectors + logits)


def fit_problem(
    kind: str, conf: Any, cfg: TrainConfig, device: str, width: int, answer_tokens: int = 0
) -> str | None:
    """Why the `kind` head cannot train in the memory free now (its base model already
    loaded, so only the training step's own memory is still to come), or None."""
    need = step_bytes(conf, cfg, device, width, answer_tokens)
    free = available_bytes(device)
    if need <= free:
        return None
    return (
        f"skipped the {kind} head: a training step needs about {need / 2**30:.1f} GB at batch "
        f"{cfg.batch_size} and {min(width, cfg.max_length)} tokens, and "
        f"{free / 2**30:.1f} GB is free"
    )
