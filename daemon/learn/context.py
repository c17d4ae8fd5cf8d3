"""Where a model reads less than the whole description: the context limit of each part.

MiniLM reads at most 256 word pieces, the LLM heads at most `max_length` prompt tokens,
the LLM hidden-state encoder 256 tokens. A text longer than that is cut silently by the
tokenizer, so the predict stage asks here and records every cut beside the scores.
"""

from __future__ import annotations

from typing import Any


def context_cuts(predictor: Any, text: str) -> list[dict[str, Any]]:
    """[{"model", "tokens", "read"}] for each part of `predictor` that reads only the
    first `read` of the text's `tokens` tokens; [] when every part reads all of it."""
    cuts: list[dict[str, Any]] = []
    for name, tokens, limit in _limits(predictor, text):
        if tokens > limit:
            cuts.append({"model": name, "tokens": int(tokens), "read": int(limit)})
    return cuts


def describe_cuts(cuts: list[dict[str, Any]]) -> str:
    """'all-MiniLM-L6-v2 read 256 of 612 tokens' for people."""
    return "; ".join(f"{c['model']} read {c['read']} of {c['tokens']} tokens" for c in cuts)


def _limits(predictor: Any, text: str) -> list[tuple[str, int, int]]:
    """(part name, tokens of the text, tokens the part reads) for every part found."""
    found: list[tuple[str, int, int]] = []
    for encoder in getattr(predictor, "encoders", None) or []:
        found += _encoder_limit(encoder, text)
    tok, max_length = getattr(predictor, "tok", None), getattr(predictor, "max_length", None)
    if tok is not None and max_length:
        from daemon.learn.backbone import render_prompt

        prompt = tok.encode(render_prompt(tok, text), add_special_tokens=False)
        found.append(("the LLM prompt", len(prompt), int(max_length)))
    for part in getattr(predictor, "_loaded", None) or []:  # a blend's loaded parts
        found += _limits(part, text)
    return found


def _encoder_limit(encoder: Any, text: str) -> list[tuple[str, int, int]]:
    model = getattr(encoder, "model", None)
    name = str(getattr(encoder, "description", type(encoder).__name__))
    limit = getattr(model, "max_seq_length", None)  # sentence-transformers
    if limit is not None and hasattr(model, "tokenizer"):
        return [(name, len(model.tokenizer(text)["input_ids"]), int(limit))]
    tok = getattr(encoder, "tok", None)
    if tok is not None:
        from daemon.learn.encoders import LLM_MAX_TOKENS

        return [(name, len(tok(text)["input_ids"]), LLM_MAX_TOKENS)]
    return []
