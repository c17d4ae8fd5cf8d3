"""The whole loop on real clips: labels imported, clips dropped in the inbox, the daemon
processes them, the scheduler trains, every clip gets a score.

    python bench/loop.py [--clips DIR] [--max-train-rows N] [--max-steps S] [--heads ...]

A fresh home with the default configuration (every default head, batch and prompt
length), except: the First Impressions labels and transcripts are imported and described
(`lprd labels import`, `lprd labels describe`), `train.min_new_labelled` is the number of
clips, the retrain check runs every `--check-interval` seconds, and the LLM heads' CPU
budget is capped (training rows, optimiser steps, holdout and validation rows scored; the
defaults keep a run on a shared 2-core CPU within an hour). It reports the time until
every clip has a score and until the first scheduled training promotes a model (each
also as a ratio to the clips' total duration, measured in the same run), the daemon's
peak RSS (VmHWM), each head's peak RSS in its own training process (its VmHWM, polled by
the training process; it waits for the training to end), and which model served each
clip.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FI_DIR = REPO.parent / "shared" / "data" / "first_impressions_v2"
PICKLES = [
    FI_DIR / f"{kind}_{split}.pkl"
    for kind in ("annotation", "transcription")
    for split in ("training", "validation")
]
RSS_LIMIT_MB = 8 * 1024


def lprd(home: Path, env: dict[str, str], *args: str) -> None:
    """Run one CLI command; stop the benchmark if it fails."""
    subprocess.run(
        [sys.executable, "-m", "daemon", "--home", str(home), *args], env=env, check=True
    )


def clip_seconds(clips: list[Path]) -> float:
    """Total duration of the clips (PyAV), the reference the timings are divided by."""
    import av

    total = 0.0
    for clip in clips:
        with av.open(str(clip)) as container:
            total += float(container.duration or 0) / 1_000_000
    return total


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory of a running process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def progress(db_path: Path) -> dict:
    """Clips with a prediction, promoted models, and each training run's outcome."""
    from sqlalchemy import select

    from storage.db import Database
    from storage.models import ModelVersion, Prediction, TrainingRun, Video

    db = Database.at(db_path)
    with db.read() as session:
        served = dict(
            session.execute(
                select(Video.name, Prediction.model_version).join(
                    Prediction, Prediction.video_id == Video.id
                )
            ).all()
        )
        models = list(session.scalars(select(ModelVersion)))
        runs = list(session.scalars(select(TrainingRun)))
    db.dispose()
    return {"served": served, "models": models, "runs": runs}


def run_loop(args: argparse.Namespace, home: Path, clips: list[Path]) -> dict:
    """Drive the daemon until every clip has a score (or the timeout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LPRD_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "LPRD_TRAIN__MIN_NEW_LABELLED": str(len(clips)),
            "LPRD_TRAIN__CHECK_INTERVAL_S": str(args.check_interval),
            "LPRD_TRAIN__MAX_TRAIN_ROWS": str(args.max_train_rows),
            "LPRD_TRAIN__MAX_REPORT_ROWS": str(args.max_report_rows),
            "LPRD_TRAIN__MAX_STEPS": str(args.max_steps),
            "LPRD_TRAIN__EVAL_LIMIT": str(args.eval_limit),
        }
    )
    if args.heads:
        env["LPRD_TRAIN__HEADS"] = json.dumps(args.heads.split(","))
    lprd(home, env, "init")
    lprd(home, env, "labels", "import", *map(str, PICKLES))
    lprd(home, env, "labels", "describe")
    log = open(home / "daemon.log", "ab")  # closed below
    start = time.monotonic()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "daemon", "--home", str(home), "run"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for clip in clips:
        shutil.copy(clip, home / "inbox" / clip.name)
    first_promotion = all_scored = None
    training = True
    peak = 0.0
    while time.monotonic() - start < args.timeout:
        time.sleep(3)
        peak = max(peak, vm_hwm_mb(daemon.pid) or 0.0)
        state = progress(home / "lprd.db")
        if first_promotion is None and any(m.promoted_at for m in state["models"]):
            first_promotion = time.monotonic() - start
        if all_scored is None and len(state["served"]) >= len(clips):
            all_scored = time.monotonic() - start
        training = any(r.status == "running" for r in state["runs"]) or not state["runs"]
        if all_scored is not None and not training:  # wait for every head's peak RSS
            break
    timed_out = training
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(60)
    log.close()
    state = progress(home / "lprd.db")
    return {
        "state": state,
        "head_peaks": head_peaks(home / "logs"),
        "timed_out": timed_out,
        "first_promotion": first_promotion,
        "all_scored": all_scored,
        "peak": peak,
    }


def head_peaks(logs: Path) -> dict[str, float]:
    """Peak RSS (VmHWM) of each head's training process, from every run's head results
    (failed heads included), the highest per profile and head."""
    peaks: dict[str, float] = {}
    for path in sorted(logs.glob("train-*.config.*.result.json")):
        head = json.loads(path.read_text())
        if head.get("peak_rss_mb"):
            key = f"{head['profile']}/{head['kind']}"
            peaks[key] = max(peaks.get(key, 0.0), float(head["peak_rss_mb"]))
    return peaks


def main() -> int:
    """Run the loop and print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=FI_DIR / "clips")
    parser.add_argument("--max-train-rows", type=int, default=400)
    parser.add_argument("--max-report-rows", type=int, default=200)
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--eval-limit", type=int, default=40)
    parser.add_argument("--heads", default="", help="comma-separated (default: the config's)")
    parser.add_argument("--check-interval", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=5400.0)
    args = parser.parse_args()
    clips = sorted(args.clips.glob("*.mp4"))
    if not clips or not all(p.exists() for p in PICKLES):
        print(f"clips or First Impressions labels not found under {FI_DIR}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    reference = clip_seconds(clips)
    with tempfile.TemporaryDirectory(prefix="lprd-loop-") as tmp:
        out = run_loop(args, Path(tmp) / "home", clips)
    state = out["state"]
    peaks = out["head_peaks"]
    promoted = sorted(m.version for m in state["models"] if m.state == "promoted")
    failures = [r.error for r in state["runs"] if r.error]
    worst = max([out["peak"], *peaks.values()])
    ratio = {
        k: round(out[k] / reference, 2) if out[k] is not None else None
        for k in ("all_scored", "first_promotion")
    }
    print(f"{len(clips)} clips ({reference:.0f} s of video), heads {args.heads or 'default'}")
    print(f"{'measure':<44} {'value':>12} {'x clip time':>12}")
    for key, label in (
        ("all_scored", "every clip has a score (s)"),
        ("first_promotion", "first promotion (s)"),
    ):
        value = f"{out[key]:.0f}" if out[key] is not None else "never"
        print(f"{label:<44} {value:>12} {ratio[key] if ratio[key] is not None else '':>12}")
    print(f"{'daemon peak RSS (MB)':<44} {out['peak']:>12.0f}")
    for head, mb in sorted(peaks.items()):
        print(f"{'training peak RSS, ' + head + ' (MB)':<44} {mb:>12.0f}")
    print(f"clips scored: {len(state['served'])} of {len(clips)}; promoted: {', '.join(promoted)}")
    for name, version in sorted(state["served"].items()):
        print(f"  {name:<28} {version}")
    for error in failures:
        print(f"training run note: {error}")
    if out["timed_out"]:
        print(f"stopped at --timeout {args.timeout:.0f} s with a training still running")
    result = {
        "clips": len(clips),
        "clip_seconds": round(reference, 1),
        "scored": len(state["served"]),
        "all_scored_s": out["all_scored"],
        "first_promotion_s": out["first_promotion"],
        "ratio_to_clip_time": ratio,
        "daemon_peak_rss_mb": round(out["peak"]),
        "training_peak_rss_mb": {k: round(v) for k, v in peaks.items()},
        "peak_rss_under_8gb": worst < RSS_LIMIT_MB,
        "every_clip_scored": len(state["served"]) == len(clips),
        "served_by": state["served"],
        "promoted": promoted,
        "training_notes": failures,
        "timed_out": out["timed_out"],
    }
    print(json.dumps(result))
    met = result["every_clip_scored"] and result["peak_rss_under_8gb"]
    return 0 if met and not out["timed_out"] else 1


if __name__ == "__main__":
    sys.exit(main())
