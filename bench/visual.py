"""Benchmark of the visual analysis: seconds per clip, frames per second, ratio to decode.

For each real First Impressions clip: the decode-only time for the same sampled frames
(every frame decoded, the sampled ones picked, none converted) and the full analysis
(landmarks, apparent age and gender, movement; the 7-class expression model only with
--expressions, as in the daemon where it is off by default). Models load once, before
timing, as in the daemon. Target: a 15 s clip in under 10 s at 5 fps on 2 cores.

    python bench/visual.py [--fps 5] [--clips 12]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from daemon.config import VisualConfig
from daemon.model_cache import ModelCache
from daemon.visual import analyze, backends, frames

CLIPS = Path(__file__).resolve().parents[1].parent / "shared/data/first_impressions_v2/clips"
TARGET_S = 10.0


def _decode_only(path: Path, cfg: VisualConfig) -> tuple[float, int]:
    start = time.perf_counter()
    n = sum(1 for _ in frames.iter_frames(path, cfg.sample_fps, cfg.max_side, convert=False))
    return time.perf_counter() - start, n


def main() -> None:
    """Run the benchmark and print a table, then one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--expressions", action="store_true", help="also run the 7-class model")
    args = parser.parse_args()
    cfg = VisualConfig(sample_fps=args.fps, expressions=args.expressions)
    cache = ModelCache("cpu")
    start = time.perf_counter()
    models = analyze.Models(
        landmarker=backends.landmark_model(cache),
        expression=backends.expression_model(cache) if cfg.expressions else None,
        attributes=backends.attribute_model(cache),
    )
    load_s = time.perf_counter() - start
    clips = sorted(CLIPS.glob("*.mp4"))[: args.clips]
    rows = []
    print(
        f"{'clip':24} {'frames':>6} {'decode s':>9} {'total s':>8} {'frames/s':>9} {'ratio':>6} face"
    )
    for clip in clips:
        decode_s, n = _decode_only(clip, cfg)
        start = time.perf_counter()
        log = analyze.run(clip, cfg, models, expected_frames=n)
        total_s = time.perf_counter() - start
        face = sum(log.series["face"]) / max(1, log.frames)
        rows.append(
            {"clip": clip.name, "frames": log.frames, "decode_s": round(decode_s, 3),
             "total_s": round(total_s, 3), "fps": round(log.frames / total_s, 2),
             "ratio_to_decode": round(total_s / decode_s, 2), "face_share": round(face, 3)}
        )  # fmt: skip
        r = rows[-1]
        print(
            f"{r['clip']:24} {r['frames']:>6} {r['decode_s']:>9.2f} {r['total_s']:>8.2f} "
            f"{r['fps']:>9.1f} {r['ratio_to_decode']:>6.2f} {face:.0%}"
        )
    mean = lambda key: round(sum(r[key] for r in rows) / len(rows), 3)  # noqa: E731
    worst = max(r["total_s"] for r in rows)
    print(
        f"\nmodel load {load_s:.2f} s (once per process); mean {mean('total_s'):.2f} s per clip, "
        f"worst {worst:.2f} s, target < {TARGET_S:.0f} s: {'met' if worst < TARGET_S else 'MISSED'}"
    )
    print(
        json.dumps(
            {
                "bench": "visual",
                "sample_fps": cfg.sample_fps,
                "cpus": os.cpu_count(),
                "clips": len(rows),
                "model_load_s": round(load_s, 3),
                "mean_s_per_clip": mean("total_s"),
                "worst_s_per_clip": round(worst, 3),
                "mean_frames_per_s": mean("fps"),
                "mean_ratio_to_decode": mean("ratio_to_decode"),
                "target_s": TARGET_S,
                "target_met": worst < TARGET_S,
                "per_clip": rows,
            }
        )  # fmt: skip
    )


if __name__ == "__main__":
    main()
