"""The prediction heads, one module each, and HEADS: every head by name.

The trainer trains a head and the predictor loads one through HEADS alone (see base.py
for what a head provides). A new head is one module here and one line below (and its
name in `train.heads`' list, daemon/config/train.py, which cannot import this package).
"""

from __future__ import annotations

from daemon.learn.heads import blend, generative, numeric, regression, ridge, transfer
from daemon.learn.heads.base import Head

HEADS: dict[str, Head] = {
    head.name: head
    for head in (
        *ridge.HEADS,  # embedding, text_features, llm_embedding, ensemble
        numeric.HEAD,
        transfer.HEAD,  # fi_transfer
        regression.HEAD,
        generative.HEAD,
        blend.HEAD,
    )
}


def is_llm_head(kind: str) -> bool:
    """A head that fine-tunes the LLM with LoRA (not a ridge over features)."""
    head = HEADS.get(kind)
    return head is not None and head.llm
