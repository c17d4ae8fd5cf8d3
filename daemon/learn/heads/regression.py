"""Regression head on the LLM: one sigmoid output per target (First Impressions' six, or a
study's) over the mean-pooled last hidden state, trained with a loss on the numbers
themselves (not on digit strings); a target a row does not rate is left out of its loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daemon.config import TrainConfig
from daemon.learn.backbone import decoder, prompt_ids, render_prompt
from daemon.learn.heads.base import Prepared
from daemon.learn.heads.lora import Built, LLMHead
from daemon.learn.metrics import Scores
from daemon.text.prompt import FI_TASK, Task


def make_head(hidden: int, mean: Scores) -> Any:
    """LayerNorm + linear layer (one output per target of `mean`, in its order) whose bias
    starts at the logit of the train mean."""
    import torch

    linear = torch.nn.Linear(hidden, len(mean))
    torch.nn.init.normal_(linear.weight, std=0.01)
    with torch.no_grad():
        for i, t in enumerate(mean):
            p = min(0.99, max(0.01, mean[t]))
            linear.bias[i] = math.log(p / (1 - p))
    return torch.nn.Sequential(torch.nn.LayerNorm(hidden), linear)


class RegressionModel:
    """A (LoRA-wrapped) causal LM plus the regression head; predicts its task's targets."""

    def __init__(self, lm: Any, tok: Any, head: Any, max_length: int, task: Task = FI_TASK) -> None:
        self.lm, self.tok, self.head, self.max_length = lm, tok, head, max_length
        self.task = task
        self._prefix: int | None = None

    def _prefix_len(self) -> int:
        """Tokens before the description: the instructions, identical for every row."""
        if self._prefix is None:
            marker = "\x00"
            text = render_prompt(self.tok, marker, self.task)
            self._prefix = len(
                self.tok.encode(text[: text.index(marker)], add_special_tokens=False)
            )
        return self._prefix

    def _batch(self, texts: Sequence[str]) -> tuple[Any, Any, Any, int]:
        import torch

        ids = [prompt_ids(self.tok, t, self.max_length, self.task) for t in texts]
        width = max(len(i) for i in ids)
        pad = self.tok.pad_token_id
        start = self._prefix_len()
        input_ids = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
        # Pool over the description only: the shared instructions carry no signal.
        pool = torch.tensor(
            [
                [0] * min(start, len(i) - 1)
                + [1] * (len(i) - min(start, len(i) - 1))
                + [0] * (width - len(i))
                for i in ids
            ]
        )
        device = next(self.head.parameters()).device
        return input_ids.to(device), mask.to(device), pool.to(device), sum(len(i) for i in ids)

    def forward(self, texts: Sequence[str]) -> tuple[Any, int]:
        """Scores in [0, 1] as a (batch, targets) tensor, and the number of tokens read."""
        import torch

        input_ids, mask, pool, n_tok = self._batch(texts)
        # The decoder alone: the head needs hidden states, never the vocabulary projection.
        hidden = decoder(self.lm)(input_ids=input_ids, attention_mask=mask).last_hidden_state
        hidden = hidden.float()
        weights = pool.unsqueeze(-1).float()
        pooled = (hidden * weights).sum(1) / weights.sum(1)
        return torch.sigmoid(self.head(pooled)), n_tok

    def loss(self, texts: Sequence[str], targets: Sequence[Scores]) -> tuple[Any, int]:
        """Mean squared error on the rated numbers (a NaN target is not rated)."""
        import torch

        pred, n_tok = self.forward(texts)
        y = torch.tensor(
            [[s.get(t, math.nan) for t in self.task.targets] for s in targets], device=pred.device
        )
        rated = ~torch.isnan(y)
        if bool(rated.all()):
            return torch.nn.functional.mse_loss(pred, y), n_tok
        squared = (pred - torch.nan_to_num(y)) ** 2 * rated
        return squared.sum() / rated.sum().clamp(min=1), n_tok

    def predict(self, texts: Sequence[str], batch_size: int = 8) -> list[Scores]:
        """Deterministic scores for each text."""
        import torch

        results: list[Scores] = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                pred, _ = self.forward(texts[i : i + batch_size])
                results += [dict(zip(self.task.targets, row, strict=True)) for row in pred.tolist()]
        return results

    def save(self, folder: Path) -> None:
        """LoRA adapter under adapter/, the head's weights in head.pt, its task in task.json."""
        import torch

        self.lm.save_pretrained(str(folder / "adapter"))
        torch.save(self.head.state_dict(), folder / "head.pt")
        self.task.save(folder)

    @classmethod
    def load(cls, folder: Path, lm: Any, tok: Any, max_length: int) -> RegressionModel:
        """Rebuild from a saved folder on top of a freshly loaded base LM."""
        import torch

        from daemon.learn.backbone import load_adapter

        lm = load_adapter(lm, folder / "adapter")
        state = torch.load(folder / "head.pt", map_location="cpu")
        hidden = state["0.weight"].shape[0]
        task = Task.load(folder)
        head = make_head(hidden, dict.fromkeys(task.targets, 0.5))
        head.load_state_dict(state)
        device = next(lm.parameters()).device
        head.to(device).eval()
        lm.eval()
        return cls(lm, tok, head, max_length, task)


class RegressionHead(LLMHead):
    """LoRA on the LLM with the sigmoid head trained beside it (its own learning rate)."""

    def build(self, lm: Any, tok: Any, prep: Prepared, cfg: TrainConfig, task: Task,
              device: str) -> Built:  # fmt: skip
        import torch

        head = make_head(lm.config.hidden_size, prep.mean).to(device)
        model = RegressionModel(lm, tok, head, cfg.max_length, task)
        groups = [{"params": list(head.parameters()), "lr": cfg.head_learning_rate}]
        return Built(model, torch.nn.ModuleDict({"lm": lm, "head": head}), groups)

    def restore(self, folder: Path, lm: Any, tok: Any, max_length: int) -> RegressionModel:
        return RegressionModel.load(folder, lm, tok, max_length)


HEAD = RegressionHead("regression")
