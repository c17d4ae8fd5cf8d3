"""First Impressions V2, transcript-only: train on the train split, report validation mean
accuracy for the train-mean baseline, the embedding baseline and the fine-tuned LLM.

    python bench/fi_text.py [--limit N] [--val-limit M] [--steps S] [--heads regression,generative]

`--limit` caps the LLM's training rows and `--val-limit` its validation rows (CPU time);
the embedding baseline uses every train and validation row unless `--embed-limit` is set.
Each model is printed beside the train-mean baseline on exactly the clips it was scored on.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
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


def build_db(home: Path):  # noqa: ANN201 - storage.db.Database
    """A fresh database with the official labels and transcript-only descriptions."""
    from daemon.text.label_store import import_labels
    from daemon.text.transcript_only import build_transcript_descriptions
    from storage import db as dbmod

    home.mkdir(parents=True, exist_ok=True)
    dbmod.upgrade(home / "lprd.db")
    db = dbmod.Database.at(home / "lprd.db")
    import_labels(db, [FI_DIR / f for f in FILES])
    build_transcript_descriptions(db, splits=["train", "validation"])
    return db


def scored(name: str, trained, prep, limit_note: str) -> dict:  # noqa: ANN001
    """Validation figures of one trained head next to the baseline on the same clips."""
    from daemon.learn.trainer import _metrics

    start = time.monotonic()
    m = _metrics(trained, prep)
    return {
        "model": name,
        "rows": limit_note,
        "val_mean_accuracy": m["validation"]["mean_accuracy"],
        "baseline_same_clips": m["baseline"]["mean_accuracy"],
        "holdout_mean_accuracy": trained.holdout,
        "per_target": {t: v["accuracy"] for t, v in m["validation"]["per_target"].items()},
        "pearson": {t: v["pearson"] for t, v in m["validation"]["per_target"].items()},
        "fit": {k: v for k, v in trained.detail.items() if k != "history"},
        "score_seconds": round(time.monotonic() - start, 1),
    }


def main() -> int:
    """Run the benchmark and print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=400, help="LLM training rows (0: all)")
    parser.add_argument("--val-limit", type=int, default=300, help="LLM validation rows (0: all)")
    parser.add_argument("--embed-limit", type=int, default=0, help="embedding train rows (0: all)")
    parser.add_argument("--no-embedding", action="store_true", help="skip the embedding baseline")
    parser.add_argument("--steps", type=int, default=60, help="LLM optimiser steps at most")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=320)
    parser.add_argument("--heads", default="regression", help="LLM heads, comma-separated")
    parser.add_argument("--base-model", default="", help="default: embedded SmolLM2-135M")
    args = parser.parse_args()
    if not (FI_DIR / FILES[0]).exists():
        print(f"First Impressions data not found under {FI_DIR}", file=sys.stderr)
        return 2

    from daemon.learn.config import TrainConfig
    from daemon.learn.trainer import prepare, train_embedding, train_llm
    from daemon.model_cache import resolve_device

    device = resolve_device("auto")
    t0 = time.monotonic()
    db = build_db(Path(tempfile.mkdtemp(prefix="fi-text-")) / "home")
    setup_s = time.monotonic() - t0
    results = []

    if not args.no_embedding:
        cfg = TrainConfig(max_train_rows=args.embed_limit, holdout_fraction=0.15)
        prep = prepare(db, "transcript_only", cfg)
        start = time.monotonic()
        trained = train_embedding(prep, cfg, device)
        emb = scored("embedding (MiniLM + ridge)", trained, prep, f"{prep.train_count} train")
        emb["train_seconds"] = round(time.monotonic() - start, 1)
        emb["baseline_mean"] = prep.mean
        results.append(emb)

    cfg = TrainConfig(
        base_model=args.base_model,
        max_train_rows=args.limit,
        max_report_rows=args.val_limit,
        max_steps=args.steps,
        epochs=50.0,
        batch_size=args.batch,
        max_length=args.max_length,
        eval_every=max(1, args.steps // 4),
        eval_limit=64,
        patience=4,
        learning_rate=2e-4,
        head_learning_rate=1e-3,
    )
    prep = prepare(db, "transcript_only", cfg)
    for head in [h for h in args.heads.split(",") if h]:
        start = time.monotonic()
        trained = train_llm(head, prep, cfg, device, lambda: None)
        train_s = time.monotonic() - start
        res = scored(f"SmolLM2 LoRA, {head} head", trained, prep, f"{prep.train_count} train")
        res["train_seconds"] = round(train_s, 1)
        results.append(res)
    wall = time.monotonic() - t0

    print(f"First Impressions V2, transcript-only, device {device}; wall {wall:.0f} s")
    print(
        f"LLM limit: {args.limit} train rows, {args.val_limit} validation rows, <= {args.steps} steps"
    )
    print(f"{'model':34} {'rows':>11} {'val acc':>8} {'baseline':>9} {'diff':>8} {'train s':>8}")
    for r in results:
        diff = r["val_mean_accuracy"] - r["baseline_same_clips"]
        print(
            f"{r['model']:34} {r['rows']:>11} {r['val_mean_accuracy']:8.4f} "
            f"{r['baseline_same_clips']:9.4f} {diff:+8.4f} {r['train_seconds']:8.0f}"
        )
    print(f"(published transcript-only systems: about {PUBLISHED_TRANSCRIPT_ONLY})")
    summary = {
        "device": device,
        "limit": args.limit,
        "val_limit": args.val_limit,
        "steps": args.steps,
        "setup_seconds": round(setup_s, 1),
        "wall_seconds": round(wall, 1),
        "results": results,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
