"""A few training steps of the regression head on a loaded, LoRA-wrapped base: the check
that a backend really trains, shared by the tests of each real base."""

from __future__ import annotations

from typing import Any

from storage.models import TARGETS

TEXTS = ["The speaker is cheerful and confident.", "The speaker is gloomy and nervous."]


def regression_steps(lm: Any, tok: Any, max_length: int, lr: float, steps: int = 3) -> Any:
    """Train the regression head with `lm` (LoRA already added) for `steps` steps on TEXTS;
    assert that the loss falls and that the adapters themselves learned. Returns the
    RegressionModel."""
    import torch

    from daemon.learn.heads.regression import RegressionModel, make_head

    head = make_head(lm.config.hidden_size, dict.fromkeys(TARGETS, 0.5))
    model = RegressionModel(lm, tok, head, max_length)
    params = [p for p in lm.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr)
    targets = [dict.fromkeys(TARGETS, 0.8), dict.fromkeys(TARGETS, 0.7)]
    losses = []
    for _ in range(steps):
        lm.train()
        loss, n_tok = model.loss(TEXTS, targets)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert n_tok > 0 and losses[-1] < losses[0], losses
    lora = [p for n, p in lm.named_parameters() if "lora_B" in n]
    assert lora and any(p.abs().sum() > 0 for p in lora)  # the adapters themselves learned
    return model
