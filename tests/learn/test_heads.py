"""The heads registry: every head is one module of daemon/learn/heads and one entry of
HEADS, which the trainer, the predictor and the configuration all go by."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from daemon.config.train import Head as HeadName
from daemon.learn.backbone import LLM_HEADS
from daemon.learn.heads import HEADS, is_llm_head
from daemon.learn.heads.base import Head
from daemon.learn.progress import is_llm_head as progress_is_llm_head

LEARN = Path(__file__).resolve().parents[2] / "daemon" / "learn"


def test_the_config_lists_exactly_the_registered_heads() -> None:
    assert set(get_args(HeadName)) == set(HEADS)


def test_every_head_is_described_under_its_own_name() -> None:
    assert all(isinstance(head, Head) and head.name == name for name, head in HEADS.items())
    llm = sorted(name for name in HEADS if is_llm_head(name))
    assert llm == ["generative", "regression"]
    # backbone's list serves the modules below the heads (the registry's backend column)
    assert sorted(LLM_HEADS) == llm
    assert [progress_is_llm_head(n) for n in ("regression", "embedding", "nope")] == [
        True, False, False
    ]  # fmt: skip
    refit = sorted(name for name, head in HEADS.items() if head.refit_per_fold)
    assert refit == sorted(
        ["embedding", "text_features", "llm_embedding", "ensemble", "numeric", "fi_transfer"]
    )
    assert [n for n, h in HEADS.items() if h.needs_validation] == ["blend"]


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_the_trainer_and_the_predictor_name_no_head() -> None:
    """No if/elif over head names: a new head is a module and a line in HEADS."""
    for module in ("trainer.py", "predictor.py"):
        named = _string_constants(LEARN / module) & set(HEADS)
        assert not named, f"{module} names heads {sorted(named)}: go through HEADS"
