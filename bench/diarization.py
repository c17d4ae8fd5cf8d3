"""Offline diarization on concatenations of the real First Impressions clips (one person per
clip, so the true speaker of every part is known): estimated speaker count and diarization
error rate (pyannote.metrics, collar 0 and 0.25 s) per arrangement, and the count on each clip
alone (every clip is one person).

Arrangements (the first clip in name order is the subject A of the two interviews):
  distinct   every clip once, whole, one after the other
  halves     every clip cut in two at a pause; all first halves, then all second halves, so
             each voice comes back once 90 s later (catches splitting one voice in two)
  interview  A and an interviewer B taking turns, each cut in 5 pieces (B A B A ...)
  panel      A six times, alternating with three others who each speak twice

With --pairs, also the interview of every pair of clips (66 for 12 clips): how many give
two speakers, and the mean and worst error rate.

Usage: python bench/diarization.py [--clips N] [--gap S] [--distance D] [--share S] [--pairs]
Other benches import `load_parts`, `arrangements`, `interview` and `run_offline`.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from daemon.audio.diarization_eval import (  # noqa: E402
    Concatenation,
    Part,
    concatenate,
    score,
    split_at_pauses,
)

FI_DIR = REPO.parent / "shared" / "data" / "first_impressions_v2"
RATE = 16000


def shared_clips(limit: int = 0) -> list[Path]:
    """The shared First Impressions mp4 clips in name order (at most `limit` when given)."""
    return sorted((FI_DIR / "clips").glob("*.mp4"))[: limit or None]


def load_parts(clips: list[Path], models: Any, vad_threshold: float) -> list[Part]:
    """Each clip's audio (16 kHz mono, decoded as the daemon does) and its silero-vad speech,
    labelled with the clip's name as the speaker."""
    from daemon import media
    from daemon.audio import vad

    parts = []
    for clip in clips:
        samples = media.decode_audio(clip, RATE)
        speech = vad.speech_regions(models, samples, RATE, vad_threshold)
        parts.append(Part(clip.name.removesuffix(".mp4"), samples, tuple(speech)))
    return parts


def _pieces(part: Part, n: int) -> list[Part]:
    return split_at_pauses(part.speaker, part.samples, RATE, part.speech, n)


def _interleave(*runs: list[Part]) -> list[Part]:
    return [p for group in zip(*runs, strict=True) for p in group]


def interview(
    subject: Part, interviewer: Part, gap_s: float = 0.3, turns: int = 5
) -> Concatenation:
    """The two taking `turns` turns each, the interviewer first, each cut at pauses."""
    a, b = _pieces(subject, turns), _pieces(interviewer, turns)
    return concatenate(_interleave(b, a), RATE, gap_s)


def arrangements(parts: list[Part], gap_s: float = 0.3) -> dict[str, Concatenation]:
    """The four arrangements of the module docstring (those the clips are enough for)."""
    out = {"distinct": concatenate(parts, RATE, gap_s)}
    halves = [_pieces(p, 2) for p in parts]
    out["halves"] = concatenate([h[0] for h in halves] + [h[1] for h in halves], RATE, gap_s)
    if len(parts) >= 2:
        out["interview"] = interview(parts[0], parts[1], gap_s)
    if len(parts) >= 4:
        a = _pieces(parts[0], 6)
        others = [h for p in parts[1:4] for h in _pieces(p, 2)]
        others = others[0::2] + others[1::2]  # B1 C1 D1 B2 C2 D2
        out["panel"] = concatenate(_interleave(a, others), RATE, gap_s)
    return out


def run_offline(models: Any, samples: np.ndarray, audio_cfg: Any) -> list[Any]:
    """The diarize stage's offline backend on raw samples: silero-vad, then the clustering."""
    from daemon.audio import offline_diarize, vad

    regions = vad.speech_regions(models, samples, RATE, audio_cfg.vad_threshold)
    return offline_diarize.diarize(
        models, samples, RATE, regions, audio_cfg.speaker_distance, audio_cfg.min_speaker_share
    )


def evaluate(models: Any, audio_cfg: Any, parts: list[Part], gap_s: float) -> dict[str, Any]:
    """Scores per arrangement and the speaker count of every clip alone."""
    result: dict[str, Any] = {"arrangements": {}, "single": {}}
    for name, concat in arrangements(parts, gap_s).items():
        start = time.perf_counter()
        turns = run_offline(models, concat.samples, audio_cfg)
        scored = score(concat.reference, turns)
        scored.update(seconds=time.perf_counter() - start, audio_s=len(concat.samples) / RATE)
        result["arrangements"][name] = scored
    for part in parts:
        turns = run_offline(models, part.samples, audio_cfg)
        result["single"][part.speaker] = len({t["speaker"] for t in turns})
    return result


def evaluate_pairs(models: Any, audio_cfg: Any, parts: list[Part], gap_s: float) -> dict:
    """The interview of every pair of clips: speaker counts found, mean and worst DER."""
    found, ders = [], []
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            concat = interview(a, b, gap_s)
            scored = score(concat.reference, run_offline(models, concat.samples, audio_cfg))
            found.append(scored["found_speakers"])
            ders.append(scored["collar_0.25"]["der"])
    return {
        "pairs": len(found),
        "found_speakers": {str(k): found.count(k) for k in sorted(set(found))},
        "der_collar_0.25_mean": round(float(np.mean(ders)), 4),
        "der_collar_0.25_max": round(float(np.max(ders)), 4),
    }


def report(result: dict[str, Any], settings: dict[str, Any]) -> None:
    """Print the tables and the JSON line."""
    print(f"{'arrangement':12s} {'audio':>6s} {'true':>5s} {'found':>6s} {'DER c0':>7s} "
          f"{'DER .25':>8s} {'confus.':>8s} {'missed':>7s} {'f.alarm':>8s} {'secs':>6s}")  # fmt: skip
    for name, r in result["arrangements"].items():
        c0, c25 = r["collar_0"], r["collar_0.25"]
        print(f"{name:12s} {r['audio_s']:5.0f}s {r['true_speakers']:5d} {r['found_speakers']:6d} "
              f"{c0['der']:7.1%} {c25['der']:8.1%} {c25['confusion']:8.1%} {c25['missed']:7.1%} "
              f"{c25['false_alarm']:8.1%} {r['seconds']:6.1f}")  # fmt: skip
    single = result["single"]
    wrong = {k: v for k, v in single.items() if v != 1}
    print(f"\nclips alone: {len(single) - len(wrong)} of {len(single)} give 1 speaker"
          + (f"; others: {wrong}" if wrong else ""))  # fmt: skip
    if "pairs" in result:
        pr = result["pairs"]
        print(f"interviews of every pair ({pr['pairs']}): speakers found {pr['found_speakers']}, "
              f"DER (0.25 s collar) mean {pr['der_collar_0.25_mean']:.1%}, "
              f"worst {pr['der_collar_0.25_max']:.1%}")  # fmt: skip
    print(f"settings: {settings}")
    figures = {
        "settings": settings,
        **({"pair_interviews": result["pairs"]} if "pairs" in result else {}),
        "single_clip_speakers": single,
        **{
            name: {
                "true_speakers": r["true_speakers"],
                "found_speakers": r["found_speakers"],
                "der_collar_0": round(r["collar_0"]["der"], 4),
                "der_collar_0.25": round(r["collar_0.25"]["der"], 4),
                "confusion_collar_0.25": round(r["collar_0.25"]["confusion"], 4),
                "audio_s": round(r["audio_s"], 1),
                "seconds": round(r["seconds"], 2),
            }
            for name, r in result["arrangements"].items()
        },
    }
    print(json.dumps(figures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=0, help="limit the number of clips")
    parser.add_argument("--gap", type=float, default=0.3, help="silence between parts (s)")
    parser.add_argument("--distance", type=float, help="audio.speaker_distance to use")
    parser.add_argument("--share", type=float, help="audio.min_speaker_share to use")
    parser.add_argument("--pairs", action="store_true", help="also every pair's interview")
    args = parser.parse_args()
    from daemon.config import AudioConfig
    from daemon.model_cache import ModelCache

    clips = shared_clips(args.clips)
    if len(clips) < 2:
        print(f"need at least 2 clips in {FI_DIR / 'clips'}", file=sys.stderr)
        return 1
    cfg = AudioConfig()
    if args.distance is not None:
        cfg.speaker_distance = args.distance
    if args.share is not None:
        cfg.min_speaker_share = args.share
    models = ModelCache("cpu")
    parts = load_parts(clips, models, cfg.vad_threshold)
    settings = {"speaker_distance": cfg.speaker_distance, "min_speaker_share": cfg.min_speaker_share,
                "vad_threshold": cfg.vad_threshold, "gap_s": args.gap, "clips": len(clips)}  # fmt: skip
    result = evaluate(models, cfg, parts, args.gap)
    if args.pairs:
        result["pairs"] = evaluate_pairs(models, cfg, parts, args.gap)
    report(result, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
