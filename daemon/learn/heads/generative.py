"""Generative head: the LLM writes the answer of daemon.text.prompt, and each score is read
as an expected value over the digit tokens, decoding greedily and deterministically.

The answer is tokenised piece by piece (literal text, then one token per digit) both in
training and in prediction, so the two always see the same token sequence whatever the
tokenizer would merge. The loss covers the answer tokens only, never the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from daemon.config import TrainConfig
from daemon.errors import PermanentError
from daemon.learn.backbone import decoder, prompt_ids, turn_end_id
from daemon.learn.data import Example
from daemon.learn.heads.base import HeadSkipped, Prepared
from daemon.learn.heads.lora import Built, LLMHead
from daemon.learn.metrics import Scores
from daemon.text.prompt import FI_TASK, Task, format_answer

DIGITS = "0123456789"


def literal(i: int, task: Task = FI_TASK) -> str:
    """The text before the i-th score: '{"openness": ' or ', "conscientiousness": '."""
    return ("{" if i == 0 else ", ") + f'"{task.targets[i]}": '


class AnswerCodec:
    """Token ids of answers, built the same way for training and decoding."""

    def __init__(self, tok: Any, task: Task = FI_TASK) -> None:
        self.tok, self.task = tok, task
        self.digit = [tok.convert_tokens_to_ids(d) for d in DIGITS]
        if any(d is None or d == tok.unk_token_id for d in self.digit):
            raise PermanentError(
                "the tokenizer has no single-digit tokens; use the regression head"
            )
        self.dot = self._text(".")
        self.literals = [self._text(literal(i, task)) for i in range(len(task.targets))]
        self.close = self._text("}")
        self.end = turn_end_id(tok)  # the answer closes the model's turn

    def _text(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def number(self, value: float) -> list[int]:
        s = f"{value:.2f}"  # the same rounding as format_answer
        return [self.digit[int(s[0])], *self.dot, self.digit[int(s[2])], self.digit[int(s[3])]]

    def answer(self, scores: Scores) -> list[int]:
        """The ids of format_answer(scores), followed by the token that ends the turn."""
        ids: list[int] = []
        for i, t in enumerate(self.task.targets):
            ids += self.literals[i] + self.number(scores[t])
        ids += self.close
        if self.end is not None:
            ids.append(self.end)
        return ids

    def check(self, scores: Scores) -> None:
        """Raise unless the pieces decode to exactly the shared answer format."""
        ids = self.answer(scores)[: -1 if self.end is not None else None]
        text = self.tok.decode(ids)
        if text.replace(" ", "") != format_answer(scores, self.task).replace(" ", ""):
            raise PermanentError(f"answer tokens decode to {text!r}, not the shared format")


class GenerativeModel:
    """A (LoRA-wrapped) causal LM that writes scores; read as expected values."""

    def __init__(self, lm: Any, tok: Any, max_length: int, task: Task = FI_TASK) -> None:
        self.lm, self.tok, self.max_length, self.task = lm, tok, max_length, task
        self.codec = AnswerCodec(tok, task)

    def _device(self) -> Any:
        return next(self.lm.parameters()).device

    def loss(self, texts: Sequence[str], targets: Sequence[Scores]) -> tuple[Any, int]:
        """Cross-entropy on the answer tokens only (prompt and padding are masked with -100)."""
        import torch

        rows, labels = [], []
        for text, scores in zip(texts, targets, strict=True):
            p = prompt_ids(self.tok, text, self.max_length, self.task)
            a = self.codec.answer(scores)
            rows.append(p + a)
            labels.append([-100] * len(p) + a)
        width = max(len(r) for r in rows)
        pad = self.tok.pad_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self._device())
        lab = torch.tensor([r + [-100] * (width - len(r)) for r in labels], device=self._device())
        mask = torch.tensor(
            [[1] * len(r) + [0] * (width - len(r)) for r in rows], device=ids.device
        )
        hidden = decoder(self.lm)(input_ids=ids, attention_mask=mask).last_hidden_state
        # Logits only where the loss needs them: position i predicts token i + 1 of an answer.
        target = lab[:, 1:]
        keep = target != -100
        logits = self.lm.get_output_embeddings()(hidden[:, :-1][keep]).float()
        loss = torch.nn.functional.cross_entropy(logits, target[keep])
        return loss, sum(len(r) for r in rows)

    def _decode_batch(self, texts: Sequence[str]) -> list[Scores]:
        """Greedy expected-value decoding of several prompts at once (left-padded, one KV
        cache): on a CPU each forward pass costs about the same for 1 row or 8, since it
        is bound by reading the weights, so batching divides prediction time.

        Every row is fed the same number of tokens at each step: a row whose integer part
        is "1" still reads "1", ".", "0", "0" (the only answer the format allows), just as
        it would be decoded alone."""
        import torch

        device, codec = self._device(), self.codec
        rows = [
            prompt_ids(self.tok, t, self.max_length, self.task) + codec.literals[0] for t in texts
        ]
        width, pad = max(len(r) for r in rows), self.tok.pad_token_id
        state: dict[str, Any] = {
            "past": None,
            "mask": torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows]),
        }

        def feed(tokens: Any) -> Any:
            mask = state["mask"]
            if state["past"] is not None:
                mask = torch.cat([mask, torch.ones_like(tokens)], dim=1)
            positions = (mask.cumsum(1) - 1).clamp(min=0)[:, -tokens.shape[1] :]
            out = self.lm(
                input_ids=tokens.to(device),
                attention_mask=mask.to(device),
                position_ids=positions.to(device),
                past_key_values=state["past"],
                use_cache=True,
            )
            state["past"], state["mask"] = out.past_key_values, mask
            return out.logits[:, -1].float().cpu()

        digit = torch.tensor(codec.digit)
        values = torch.arange(10, dtype=torch.float32)
        dot = torch.tensor(codec.dot).expand(len(rows), -1)
        pending = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        names = codec.task.targets
        scores = torch.zeros(len(rows), len(names))
        for i in range(len(names)):
            if i:
                literal_ids = torch.tensor(codec.literals[i]).expand(len(rows), -1)
                pending = torch.cat([pending, literal_ids], dim=1)
            p_int = torch.softmax(feed(pending)[:, digit[:2]], dim=1)
            one = p_int[:, 1] > p_int[:, 0]  # greedy picks "1": the format allows only 1.00
            first = torch.where(one, digit[1], digit[0])
            p1 = torch.softmax(feed(torch.cat([first[:, None], dot], dim=1))[:, digit], dim=1)
            second = torch.where(one, digit[0], digit[p1.argmax(1)])
            p2 = torch.softmax(feed(second[:, None])[:, digit], dim=1)
            frac = (p1 * values).sum(1) / 10 + (p2 * values).sum(1) / 100
            scores[:, i] = torch.where(one, 1.0, p_int[:, 1] + p_int[:, 0] * frac)
            pending = torch.where(one, digit[0], digit[p2.argmax(1)])[:, None]
        return [
            {t: min(1.0, max(0.0, float(v))) for t, v in zip(names, row, strict=True)}
            for row in scores.tolist()
        ]

    def predict(self, texts: Sequence[str], batch_size: int = 8) -> list[Scores]:
        """Deterministic expected-value scores for each text, `batch_size` texts at a time."""
        import torch

        results: list[Scores] = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                results += self._decode_batch(texts[i : i + batch_size])
        return results

    def save(self, folder: Path) -> None:
        """The LoRA adapter under adapter/, the task in task.json."""
        self.lm.save_pretrained(str(folder / "adapter"))
        self.task.save(folder)

    @classmethod
    def load(cls, folder: Path, lm: Any, tok: Any, max_length: int) -> GenerativeModel:
        """Rebuild from a saved folder on top of a freshly loaded base LM."""
        from daemon.learn.backbone import load_adapter

        lm = load_adapter(lm, folder / "adapter")
        lm.eval()
        return cls(lm, tok, max_length, Task.load(folder))


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


class GenerativeHead(LLMHead):
    """LoRA on the LLM, which learns to write the answer (the loss on its tokens only)."""

    def rows(self, prep: Prepared) -> Prepared:
        return complete_rows(prep)

    def answer_tokens(self, tok: Any, task: Task, prep: Prepared) -> int:
        return len(AnswerCodec(tok, task).answer(prep.mean))

    def build(self, lm: Any, tok: Any, prep: Prepared, cfg: TrainConfig, task: Task,
              device: str) -> Built:  # fmt: skip
        model = GenerativeModel(lm, tok, cfg.max_length, task)
        model.codec.check(prep.mean)
        return Built(model, lm, [])

    def restore(self, folder: Path, lm: Any, tok: Any, max_length: int) -> GenerativeModel:
        return GenerativeModel.load(folder, lm, tok, max_length)


HEAD = GenerativeHead("generative")
