"""Audio stages on the real First Impressions clips: seconds per clip per stage, the ratio to
decoding the clip's audio alone, and the ASR word error rate against the official transcripts.

Usage: python bench/audio.py [--clips N]. Model loading happens once, on a warm-up clip that is
not timed (the daemon loads each model once per process). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.stage_runner import BenchEnv, context, run_stages  # noqa: E402

FI_DIR = REPO.parent / "shared" / "data" / "first_impressions_v2"
STAGES = ("diarize", "transcribe", "speech_emotion", "prosody")


def run_clip(path: Path, env: BenchEnv) -> dict:
    """Every stage up to prosody on one clip; seconds and outcome per stage, and the text."""
    out = run_stages(path, env, ("probe", "extract_audio", *STAGES))
    tr = out["transcribe"]["output"]
    return {**out, "text": tr.get("data", {}).get("summary", {}).get("text", "")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=0, help="limit the number of clips")
    args = parser.parse_args()
    from bench.wer import wer
    from daemon import media

    clips = sorted((FI_DIR / "clips").glob("*.mp4"))[: args.clips or None]
    if not clips:
        print(f"no clips in {FI_DIR / 'clips'}", file=sys.stderr)
        return 1
    with open(FI_DIR / "transcription_training.pkl", "rb") as fh:
        official = pickle.load(fh, encoding="latin1")
    with tempfile.TemporaryDirectory() as tmp:
        from daemon.model_cache import ModelCache

        models = ModelCache()
        env = context(Path(tmp) / "home", models)
        t0 = time.perf_counter()
        run_clip(clips[0], context(Path(tmp) / "warm", models))  # loads the models once
        load_s = time.perf_counter() - t0
        rows = []
        for clip in clips:
            start = time.perf_counter()
            samples = media.decode_audio(clip, 16000)
            decode_s = time.perf_counter() - start
            res = run_clip(clip, env)
            errors, words = wer(official.get(clip.name, ""), res["text"])
            rows.append({"clip": clip.name, "audio_s": samples.size / 16000, "decode_s": decode_s,
                         **{s: res[s] for s in STAGES}, "errors": errors, "words": words})  # fmt: skip
    return report(rows, load_s)


def report(rows: list[dict], load_s: float) -> int:
    """Print the table and the JSON line."""
    header = f"{'clip':24s} {'audio':>6s} {'decode':>7s} " + " ".join(f"{s:>15s}" for s in STAGES)
    print(header + f" {'WER':>6s}")
    for r in rows:
        cells = " ".join(f"{r[s]['s']:7.2f}s {r[s]['kind'][:6]:>6s}" for s in STAGES)
        w = r["errors"] / r["words"] if r["words"] else float("nan")
        print(f"{r['clip']:24s} {r['audio_s']:5.1f}s {r['decode_s']:6.3f}s {cells} {w:6.1%}")
    n = len(rows)
    audio = sum(r["audio_s"] for r in rows)
    decode = sum(r["decode_s"] for r in rows)
    per_stage = {s: sum(r[s]["s"] for r in rows) / n for s in STAGES}
    total = sum(per_stage.values())
    errors, words = sum(r["errors"] for r in rows), sum(r["words"] for r in rows)
    # Clips whose official transcript is of other speech (WER near or above 100 %) are listed.
    mismatched = [r["clip"] for r in rows if r["words"] and r["errors"] / r["words"] > 0.8]
    kept = [r for r in rows if r["clip"] not in mismatched]
    wer_kept = sum(r["errors"] for r in kept) / max(1, sum(r["words"] for r in kept))
    print()
    print(f"model loading (once, warm-up clip): {load_s:.1f} s")
    print(f"decode only: {decode / n:.3f} s per clip")
    for s in STAGES:
        print(
            f"{s:15s} {per_stage[s]:6.2f} s per clip = {per_stage[s] / (decode / n):7.1f}x decode"
        )
    print(f"all audio stages: {total:.2f} s per clip = {total / (audio / n):.3f}x real time")
    print(f"WER all clips: {errors / max(1, words):.1%} ({errors}/{words} words)")
    print(
        f"WER without clips whose official transcript is of other speech {mismatched}: {wer_kept:.1%}"
    )
    figures = {
        "clips": n,
        "mean_audio_s": round(audio / n, 2),
        "decode_s_per_clip": round(decode / n, 4),
        "stage_s_per_clip": {s: round(v, 3) for s, v in per_stage.items()},
        "stage_ratio_to_decode": {s: round(v / (decode / n), 2) for s, v in per_stage.items()},
        "audio_stages_real_time_factor": round(total / (audio / n), 4),
        "model_load_s": round(load_s, 2),
        "wer": round(errors / max(1, words), 4),
        "wer_matched_transcripts": round(wer_kept, 4),
        "mismatched_transcripts": mismatched,
        "backends": {s: rows[0][s]["backend"] for s in STAGES},
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
