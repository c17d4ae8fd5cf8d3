"""First Impressions V2, transcript-only: every head trained on the train split as `lprd
train` trains it, scored on the official validation split beside the train-mean baseline,
with the 90 % split-conformal intervals' coverage and width and each training process's
peak RSS.

    python bench/fi_text.py [--ridge-heads numeric,text_features,embedding]
                            [--subset-heads llm_embedding,ensemble] [--llm-heads regression]
                            [--llm-backends unsloth,transformers+peft]
                            [--limit 400] [--val-limit 300] [--steps 60]
                            [--subset-limit 1500] [--subset-val-limit 500] [--cache DIR]

Each head trains in its own child process; its peak RSS is the child's own high-water mark
(VmHWM, polled while it runs: wait4's ru_maxrss would include this process's size at the
fork). Ridge heads use every train and validation row. The heads that read SmolLM2's
hidden states (`--subset-heads`) use the first `--subset-limit` train and
`--subset-val-limit` validation rows, and `--limit`/`--val-limit` cap the fine-tuned LLM
heads (CPU time); the table marks such rows as a subset, with their own baseline on the
same clips. Each LLM head trains once per backend of `--llm-backends` on the same rows,
steps and seed, so the table puts unsloth beside transformers + peft: seconds per step,
peak RSS and validation accuracy. Encoder vectors are cached under `--cache` (outside the repository), so a second
run does not encode the transcripts again. The test split is never read. The last line is
one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FI_DIR = REPO.parent / "shared" / "data" / "first_impressions_v2"
FILES = (
    "annotation_training.pkl",
    "annotation_validation.pkl",
    "transcription_training.pkl",
    "transcription_validation.pkl",
)
PUBLISHED_TRANSCRIPT_ONLY = 0.889
TARGET_ACCURACY = 0.890
COVERAGE_RANGE = (0.88, 0.92)
LLM_RSS_LIMIT_GB = 4.0
CHILD_OPTIONS = (
    "limit",
    "val_limit",
    "steps",
    "batch",
    "max_length",
    "base_model",
    "cache",
    "subset_heads",
    "subset_limit",
    "subset_val_limit",
    "backend",
)
BACKEND_SETTING = {"unsloth": "always", "transformers+peft": "never"}
SHORT = {
    "openness": "O",
    "conscientiousness": "C",
    "extraversion": "E",
    "agreeableness": "A",
    "neuroticism": "ES",
}


def build_db(home: Path):  # storage.db.Database
    """A fresh database with the official labels and transcript-only descriptions."""
    from daemon.labels.store import import_labels
    from daemon.text.transcript_only import build_transcript_descriptions
    from storage import db as dbmod

    home.mkdir(parents=True, exist_ok=True)
    dbmod.upgrade(home / "lprd.db")
    db = dbmod.Database.at(home / "lprd.db")
    import_labels(db, [FI_DIR / f for f in FILES])
    build_transcript_descriptions(db, splits=["train", "validation"])
    return db


def head_config(head: str, args: argparse.Namespace):  # -> TrainConfig
    """The training settings of one head: every row for ridge heads, a CPU budget for LLMs."""
    from daemon.config import TrainConfig
    from daemon.learn.heads.ridge import RIDGE_HEADS

    if head in RIDGE_HEADS and head in args.subset_heads.split(","):
        return TrainConfig(
            base_model=args.base_model,
            heads=[head],
            max_train_rows=args.subset_limit,
            max_report_rows=args.subset_val_limit,
        )
    if head in RIDGE_HEADS or head == "numeric":
        return TrainConfig(base_model=args.base_model, heads=[head])
    return TrainConfig(
        base_model=args.base_model,
        use_unsloth=BACKEND_SETTING[args.backend],
        heads=[head],
        max_train_rows=args.limit,
        max_report_rows=args.val_limit,
        max_steps=args.steps,
        epochs=50.0,
        batch_size=args.batch,
        max_length=args.max_length,
        eval_every=max(1, args.steps // 4),
        eval_limit=64,
        patience=4,
    )


def train_one(head: str, db_path: Path, args: argparse.Namespace) -> dict:
    """Train and score one head (run in the child process)."""
    from daemon.learn.heads import HEADS
    from daemon.learn.heads.lora import train_llm
    from daemon.learn.heads.numeric import train_numeric
    from daemon.learn.heads.ridge import RIDGE_HEADS, train_ridge
    from daemon.learn.trainer import _metrics, prepare
    from daemon.model_cache import resolve_device
    from storage.db import Database

    device = resolve_device("auto")
    cfg = head_config(head, args)
    prep = prepare(Database.at(db_path), "transcript_only", cfg)
    start = time.monotonic()
    if head in RIDGE_HEADS:
        trained = train_ridge(head, prep, cfg, device, Path(args.cache))
    elif head == "numeric":
        trained = train_numeric(prep, cfg, device)
    else:
        cache = Path(args.cache).parent / "models"  # dequantised bases, outside the repository
        trained = train_llm(HEADS[head], prep, cfg, device, lambda: None, cache)
    train_s = time.monotonic() - start
    m = _metrics(trained, prep, cfg.interval_level)
    intervals = m["intervals"][prep.report_split]
    fit = trained.detail
    return {
        "head": head if "backend" not in fit else f"{head}/{fit['backend']}",
        "backend": fit.get("backend"),
        "step_seconds": round(fit["seconds"] / fit["steps"], 3) if fit.get("steps") else None,
        "model": trained.base_model,
        "device": device,
        "train_rows": prep.train_count,
        "val_rows": len(prep.report),
        "val_mean_accuracy": m["validation"]["mean_accuracy"],
        "baseline_same_clips": m["baseline"]["mean_accuracy"],
        "holdout_mean_accuracy": trained.holdout,
        "per_target": {t: v["accuracy"] for t, v in m["validation"]["per_target"].items()},
        "baseline_per_target": {t: v["accuracy"] for t, v in m["baseline"]["per_target"].items()},
        "pearson": {t: v["pearson"] for t, v in m["validation"]["per_target"].items()},
        "subset": bool(cfg.max_train_rows),
        "calibration": m["intervals"]["calibration"],
        "calibration_rows": m["intervals"]["calibration_rows"],
        "interval_level": cfg.interval_level,
        "coverage": intervals["mean_coverage"],
        "width": intervals["mean_width"],
        "fit": {k: v for k, v in trained.detail.items() if k != "history"},
        "train_seconds": round(train_s, 1),
        "total_seconds": round(time.monotonic() - start, 1),
    }


def run_child(head: str, db_path: Path, args: argparse.Namespace, out: Path) -> dict:
    """Train one head in a child process; its figures plus its own peak RSS."""
    from daemon.learn.jobs.isolation import wait_child

    argv = [sys.executable, __file__, "--child", head, "--db", str(db_path), "--out", str(out)]
    if args.backend == "unsloth":
        argv.append("--unsloth-first")
    for name in CHILD_OPTIONS:
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, env=env, cwd=REPO)
    status, peak_mb = wait_child(proc)
    peak_gb = (peak_mb or 0.0) * 2**20 / 1e9
    if os.waitstatus_to_exitcode(status) != 0 or not out.exists():
        return {"head": head, "failed": f"exit {os.waitstatus_to_exitcode(status)}"}
    return {**json.loads(out.read_text()), "peak_rss_gb": round(peak_gb, 2)}


def print_table(results: list[dict], wall: float) -> None:
    """Readable figures: accuracy beside the baseline, per trait, intervals, memory."""
    print(f"First Impressions V2, transcript-only, official validation split; wall {wall:.0f} s")
    traits = " ".join(f"{s:>6}" for s in SHORT.values())
    print(
        f"{'head':28} {'train':>6} {'val':>5} {'acc':>7} {'base':>7} {'diff':>7} {traits} "
        f"{'cover':>6} {'width':>6} {'RSS GB':>7} {'train s':>7} {'s/step':>6}"
    )
    for r in results:
        if "failed" in r:
            print(f"{r['head']:28} failed: {r['failed']}")
            continue
        diff = r["val_mean_accuracy"] - r["baseline_same_clips"]
        per = " ".join(f"{r['per_target'][t]:6.4f}" for t in SHORT)
        name = f"{r['head']}{'*' if r['train_rows'] < 6000 else ''}"
        step = f"{r['step_seconds']:6.2f}" if r.get("step_seconds") else f"{'':6}"
        print(
            f"{name:28} {r['train_rows']:6d} {r['val_rows']:5d} {r['val_mean_accuracy']:7.4f} "
            f"{r['baseline_same_clips']:7.4f} {diff:+7.4f} {per} {r['coverage']:6.3f} "
            f"{r['width']:6.3f} {r['peak_rss_gb']:7.2f} {r['train_seconds']:7.0f} {step}"
        )
        base = " ".join(f"{r['baseline_per_target'][t]:6.4f}" for t in SHORT)
        print(f"{'  baseline':28} {'':6} {'':5} {'':7} {'':7} {'':7} {base}")
    if any(r.get("subset") for r in results):
        print("* a subset of the rows (CPU time); its baseline is on the same validation clips")
    for r in results:
        if "failed" not in r:
            print(f"  {r['head']}: intervals calibrated on {r['calibration_rows']:,} rows "
                  f"({r['calibration']})")  # fmt: skip
    print(
        f"(published transcript-only systems: about {PUBLISHED_TRANSCRIPT_ONLY}; targets: best "
        f">= {TARGET_ACCURACY}, coverage {COVERAGE_RANGE[0]}-{COVERAGE_RANGE[1]}, LLM training "
        f"RSS <= {LLM_RSS_LIMIT_GB} GB on 400 rows)"
    )


def summary(results: list[dict], args: argparse.Namespace, setup_s: float, wall: float) -> dict:
    """The JSON line: every figure plus the best head and the target checks."""
    ok = [r for r in results if "failed" not in r]
    full = [r for r in ok if r["val_rows"] >= 2000]  # comparable: the whole validation split
    best = max(full, key=lambda r: r["val_mean_accuracy"], default=None)
    llm_rss = [r["peak_rss_gb"] for r in ok if r.get("backend")]
    return {
        "llm_limit": args.limit,
        "llm_val_limit": args.val_limit,
        "llm_steps": args.steps,
        "setup_seconds": round(setup_s, 1),
        "wall_seconds": round(wall, 1),
        "best_head": best and best["head"],
        "best_val_mean_accuracy": best and best["val_mean_accuracy"],
        "best_baseline": best and best["baseline_same_clips"],
        "best_meets_target": bool(best and best["val_mean_accuracy"] >= TARGET_ACCURACY),
        # The target is for heads on every row; a subset's few calibration rows give a
        # coarser quantile (split conformal covers between the level and level + 1/(n+1)).
        "coverage_in_range": bool(full)
        and all(COVERAGE_RANGE[0] <= r["coverage"] <= COVERAGE_RANGE[1] for r in full),
        "coverage_in_range_subsets": all(
            COVERAGE_RANGE[0] <= r["coverage"] <= COVERAGE_RANGE[1] for r in ok if r not in full
        ),
        "llm_peak_rss_gb": max(llm_rss, default=None),
        "llm_rss_within_limit": bool(llm_rss) and max(llm_rss) <= LLM_RSS_LIMIT_GB,
        "unsloth_vs_peft": backend_ratios(ok),
        "results": results,
    }


def backend_ratios(results: list[dict]) -> dict:
    """Per LLM head: unsloth's seconds per step, peak RSS and accuracy against transformers +
    peft's, measured in this run on the same rows, steps and seed."""
    by = {(r["head"].split("/")[0], r.get("backend")): r for r in results}
    ratios = {}
    for (head, backend), u in by.items():
        p = by.get((head, "transformers+peft"))
        if backend != "unsloth" or p is None or not p.get("step_seconds"):
            continue
        ratios[head] = {
            "step_time_ratio": round(u["step_seconds"] / p["step_seconds"], 3),
            "peak_rss_ratio": round(u["peak_rss_gb"] / p["peak_rss_gb"], 3),
            "accuracy_difference": round(u["val_mean_accuracy"] - p["val_mean_accuracy"], 4),
        }
    return ratios


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ridge-heads", default="numeric,text_features,embedding")
    parser.add_argument(
        "--subset-heads",
        default="llm_embedding,ensemble",
        help="heads reading SmolLM2 hidden states, trained and scored on a subset",
    )
    parser.add_argument("--subset-limit", type=int, default=1500, help="their training rows")
    parser.add_argument("--subset-val-limit", type=int, default=500, help="their validation rows")
    parser.add_argument("--llm-heads", default="regression", help="comma-separated, or ''")
    parser.add_argument(
        "--llm-backends",
        default="unsloth,transformers+peft",
        help="train each LLM head through each of these (comma-separated)",
    )
    parser.add_argument("--limit", type=int, default=400, help="LLM training rows (0: all)")
    parser.add_argument("--val-limit", type=int, default=300, help="LLM validation rows (0: all)")
    parser.add_argument("--steps", type=int, default=60, help="LLM optimiser steps at most")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=320)
    parser.add_argument("--base-model", default="", help="default: embedded SmolLM2-135M")
    parser.add_argument(
        "--cache",
        default=str(Path.home() / ".cache" / "lprd" / "bench-encodings"),
        help="encoder vector cache (outside the repository)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="unsloth", help=argparse.SUPPRESS)
    parser.add_argument("--unsloth-first", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    """Run the benchmark and print the table and the JSON line."""
    args = parse_args()
    if args.child:
        from daemon.learn.heap import fix_mmap_threshold
        from daemon.privacy import quiet_libraries

        quiet_libraries(allow_downloads=False)
        logging.basicConfig(level="INFO", format="%(asctime)s %(name)s: %(message)s")
        if args.unsloth_first:  # unsloth patches transformers as it is imported
            from daemon.learn.backbone import unsloth_import_error

            unsloth_import_error()

        fix_mmap_threshold()  # as the daemon's head processes do
        Path(args.out).write_text(json.dumps(train_one(args.child, Path(args.db), args)))
        return 0
    if not (FI_DIR / FILES[0]).exists():
        print(f"First Impressions data not found under {FI_DIR}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="fi-text-"))
    build_db(work / "home")
    setup_s = time.monotonic() - t0
    runs = [(h, "") for h in f"{args.ridge_heads},{args.subset_heads}".split(",") if h]
    backends = [b for b in args.llm_backends.split(",") if b]
    runs += [(h, b) for h in args.llm_heads.split(",") if h for b in backends]
    results = []
    for head, backend in runs:
        args.backend = backend or "unsloth"
        out = work / f"{head}-{backend.replace('+', '-')}.json"
        results.append(run_child(head, work / "home" / "lprd.db", args, out))
        print(f"{head} {backend} done: {json.dumps(results[-1])}", file=sys.stderr, flush=True)
    wall = time.monotonic() - t0
    print_table(results, wall)
    print(json.dumps(summary(results, args, setup_s, wall)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
