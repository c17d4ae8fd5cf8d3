"""Validity of every measure that reaches a description, on real clips.

Each clip (the real First Impressions clips in ../shared, plus any video in `--clips DIR`)
goes through the analysis stages (probe to prosody, and analyze_face), and again after PyAV
re-encodes it twice (unless --no-reencode): at 360p (x264 at its default quality, AAC at
128 kbps), and at its own size at a low bitrate (250 kbps video, 32 kbps audio). Then:

- every described measure: min / median / max beside a plausible range and its source;
- syllables: syllables per word of the transcript (official where present, ASR otherwise;
  CMUdict), and the acoustic syllable-nuclei rate against the transcript's (Pearson r);
- pauses: VAD pauses against the gaps between ASR word timestamps;
- smiles: the 7-class expression model's "happy" against the smile blendshapes, frame by
  frame (Cohen's kappa); blinks: blendshape count against the eye-aspect-ratio count;
- nods: precision and recall on synthetic head-pose tracks, rates on the real clips;
- expression changes per minute (held facial-action states; the classifier's raw rate beside);
- robustness: each measure's change under each re-encoding relative to its spread across
  clips (unstable: over half its spread under either);
- contradictions: descriptions that compare one quantity twice with different answers.

    python bench/validity.py [--clips DIR] [--no-reencode] [--limit N] [--pauses-only]

--pauses-only runs the audio stages alone and checks only the pauses.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench import validity_checks as vc  # noqa: E402
from bench.stage_runner import context, run_stages  # noqa: E402

FI_DIR = REPO.parent / "shared" / "data" / "first_impressions_v2"
STAGES = ("probe", "extract_audio", "diarize", "transcribe", "prosody", "analyze_face")
AUDIO_STAGES = STAGES[:-1]
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".flv", ".wmv", ".webm")
PRAAT_RATE = 16000
# Each variant alone, so that a measure that moves says which change moved it. None keeps the
# source's size or lets the encoder pick its default quality.
REENCODE = {
    "360p": {"height": 360, "video_kbps": None, "audio_kbps": 128},
    "low_bitrate": {"height": None, "video_kbps": 250, "audio_kbps": 32},
}
UNSTABLE_RATIO = 0.5  # a median change over half the SD across clips


def find_clips(extra: Path | None, limit: int) -> list[Path]:
    """The shared real clips and the videos in `extra`."""
    clips = sorted((FI_DIR / "clips").glob("*.mp4"))
    if extra is not None:
        clips += sorted(p for p in extra.iterdir() if p.suffix.lower() in VIDEO_EXTS)
    return clips[: limit or None]


def official_transcripts() -> dict[str, str]:
    """Official First Impressions transcripts by clip name (training and validation)."""
    texts: dict[str, str] = {}
    for split in ("training", "validation"):
        path = FI_DIR / f"transcription_{split}.pkl"
        if path.exists():
            with open(path, "rb") as fh:
                texts.update(pickle.load(fh, encoding="latin1"))
    return texts


def reencode(
    src: Path, dst: Path, height: int | None, video_kbps: int | None, audio_kbps: int
) -> Path:
    """`src` re-encoded with PyAV: H.264 at `height` lines (None: its own) and
    `video_kbps` (None: x264's default quality), AAC at `audio_kbps`."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        height = height or vin.height
        width = int(round(vin.width * height / vin.height / 2)) * 2
        vout = out.add_stream("libx264", rate=vin.average_rate or 25)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        if video_kbps is not None:
            vout.bit_rate = video_kbps * 1000
        aout = out.add_stream("aac", rate=ain.rate) if ain is not None else None
        if aout is not None:
            aout.bit_rate = audio_kbps * 1000
        streams = [s for s in (vin, ain) if s is not None]
        for frame in inp.decode(*streams):
            if isinstance(frame, av.VideoFrame):
                small = frame.reformat(width=width, height=height, format="yuv420p")
                out.mux(vout.encode(small))
            else:
                frame.pts = None
                out.mux(aout.encode(frame))
        out.mux(vout.encode(None))
        if aout is not None:
            out.mux(aout.encode(None))
    return dst


def analyse(
    clips: list[Path], home: Path, models: Any, stages: tuple[str, ...] = STAGES
) -> dict[str, dict[str, Any]]:
    """{clip name: {stage: recorded output}} for every clip."""
    from daemon.config import AudioConfig
    from daemon.media import decode_audio

    env, min_pause = context(home, models), AudioConfig().min_pause_s
    env.config.visual.expressions = True  # the classifier is one of the things compared
    results = {}
    for clip in clips:
        runs = run_stages(clip, env, stages)
        results[clip.name] = {name: r["output"] for name, r in runs.items()}
        audio = decode_audio(clip, PRAAT_RATE)
        results[clip.name]["praat_silences"] = vc.praat_silences(audio, PRAAT_RATE, min_pause)
        print(f"  {clip.name}: " + ", ".join(f"{n} {r['kind']}" for n, r in runs.items()
                                              if r["kind"] != "done"), file=sys.stderr)  # fmt: skip
    return results


def summary(outputs: dict[str, Any], stage: str) -> dict[str, Any]:
    """A stage's summary, {} when it did not produce one."""
    out = outputs.get(stage) or {}
    return (out.get("data") or {}).get("summary") or {} if out.get("status") == "done" else {}


def data(outputs: dict[str, Any], stage: str) -> dict[str, Any]:
    """A stage's data, {} when it did not run."""
    return (outputs.get(stage) or {}).get("data") or {}


def transcript_ratios(official: dict[str, str]) -> np.ndarray:
    """Syllables per word of every official transcript with 20+ words: what genuine
    15 s texts span."""
    from daemon.text.syllables import count_syllables

    counts = [count_syllables(t) for t in official.values() if t]
    return np.array([c.per_word for c in counts if c.words >= 20])


def syllable_row(name: str, out: dict, official: str | None, genuine: np.ndarray) -> dict | None:
    """One clip's syllables per word (official text unless it is of other speech, else ASR),
    the ASR text's beside it, and what prosody did with the rate; None under 20 words."""
    from bench.wer import wer
    from daemon.text.syllables import count_syllables

    asr = summary(out, "transcribe").get("text") or ""
    errors, ref_words = wer(official, asr) if official else (0, 0)
    asr_wer = round(errors / ref_words, 3) if ref_words else None
    # An official text that the ASR misses almost entirely belongs to other speech.
    source = "official" if official and asr_wer is not None and asr_wer <= 0.8 else "asr"
    counted = count_syllables(official if source == "official" else asr)
    if counted.words < 20:
        return None
    lo, hi = vc.SYLLABLES_PER_WORD
    per_word = counted.per_word
    return {"clip": name, "source": source, "words": counted.words,
            "per_word": round(per_word, 3), "asr_per_word": _round(count_syllables(asr).per_word),
            "asr_wer": asr_wer, "known": round(counted.in_dictionary / counted.words, 3),
            "percentile": round(float((genuine < per_word).mean() * 100), 1),
            "in_range": lo <= per_word <= hi,
            "rate_withheld": data(out, "prosody").get("withheld", {}).get("speech_rate_sps")}  # fmt: skip


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def out_of_range_reason(row: dict) -> str:
    """Why a clip's syllables per word lies outside 1.25-1.7, and what became of its rate."""
    if row["rate_withheld"]:
        return f"syllable rate withheld by prosody: {row['rate_withheld']}"
    agree = "" if row["asr_wer"] is None else f"ASR agrees with it (WER {row['asr_wer']:.0%}), "
    return (f"genuine {row['source']} text: {agree}{row['known']:.0%} of its words in CMUdict, "
            f"percentile {row['percentile']} of the official transcripts; syllable rate kept")  # fmt: skip


def syllable_check(results: dict, official: dict[str, str]) -> dict[str, Any]:
    """Syllables per word of each transcript (20+ words), how genuine transcripts spread,
    and acoustic vs transcript rate."""
    genuine = transcript_ratios(official)
    rows = [r for name, out in results.items()
            if (r := syllable_row(name, out, official.get(name), genuine))]  # fmt: skip
    acoustic, transcript = [], []
    for out in results.values():
        pros, speech_s = data(out, "prosody"), data(out, "prosody").get("speech_s")
        rate = summary(out, "prosody").get("speech_rate_sps")
        if speech_s and rate is not None and pros.get("syllables_acoustic") is not None:
            acoustic.append(pros["syllables_acoustic"] / speech_s)
            transcript.append(rate)
    lo, hi = vc.SYLLABLES_PER_WORD
    pct = (0.5, 1, 5, 50, 95, 99, 99.5)
    return {
        "clips": rows,
        "per_word": vc.summary_stats([r["per_word"] for r in rows]),
        "all_in_range": bool(rows) and all(r["in_range"] for r in rows),
        "outside_range": {
            r["clip"]: f"{r['per_word']}: {out_of_range_reason(r)}"
            for r in rows
            if not r["in_range"]
        },  # fmt: skip
        "official_transcripts": {
            "n": int(genuine.size),
            "percentiles": dict(
                zip(map(str, pct), np.percentile(genuine, pct).round(3).tolist(), strict=True)
            )
            if genuine.size
            else {},  # fmt: skip
            "share_outside_range": round(float(((genuine < lo) | (genuine > hi)).mean()), 3)
            if genuine.size
            else None,  # fmt: skip
        },
        "acoustic_vs_transcript_r": vc.pearson(acoustic, transcript),
        "acoustic_over_transcript": round(float(np.median(np.divide(acoustic, transcript))), 3)
        if acoustic
        else None,
    }


def praat_agreement(results: dict) -> dict[str, Any]:
    """VAD pauses against Praat's intensity-based silences: per-clip count and total time,
    overlap both ways, and 10 ms frames pooled over the clips."""
    per_clip, in_praat, praat_found, vad_frames, praat_frames = [], 0, 0, [], []
    for name, out in results.items():
        if "pauses" not in data(out, "prosody"):
            continue
        vad = [tuple(p) for p in data(out, "prosody")["pauses"]]
        praat = out.get("praat_silences") or []
        per_clip.append({"clip": name, "vad": len(vad), "praat": len(praat),
                         "vad_s": round(sum(b - a for a, b in vad), 2),
                         "praat_s": round(sum(b - a for a, b in praat), 2)})  # fmt: skip
        in_praat += vc.overlap_matches(vad, praat)
        praat_found += vc.overlap_matches(praat, vad)
        frames = vc.frame_mask(vad, data(out, "probe").get("duration_s") or 0.0)
        vad_frames.append(frames)
        praat_frames.append(vc.frame_mask(praat, frames.size * vc.FRAME_S))
    x = np.concatenate(vad_frames) if vad_frames else np.array([], dtype=bool)
    y = np.concatenate(praat_frames) if praat_frames else np.array([], dtype=bool)
    col = {k: [c[k] for c in per_clip] for k in ("vad", "praat", "vad_s", "praat_s")}
    return {
        "clips": len(per_clip),
        "vad_pauses": int(sum(col["vad"])),
        "praat_pauses": int(sum(col["praat"])),
        "vad_in_praat_silence": _share(in_praat, sum(col["vad"])),
        "praat_found_by_vad": _share(praat_found, sum(col["praat"])),
        "praat_count_r": vc.pearson(col["vad"], col["praat"]),
        "praat_time_r": vc.pearson(col["vad_s"], col["praat_s"]),
        "vad_total_s": round(sum(col["vad_s"]), 2),
        "praat_total_s": round(sum(col["praat_s"]), 2),
        "praat_frames": {
            "agreement": round(float((x == y).mean()), 4) if x.size else None,
            "kappa": vc.cohen_kappa(x, y),
        },  # fmt: skip
        "per_clip": per_clip,
    }


def asr_agreement(results: dict, min_pause: float) -> dict[str, Any]:
    """VAD pauses against the gaps between the subject's ASR word timestamps."""
    vad_n, asr_n, hits, matched_asr = [], [], 0, 0
    for out in results.values():
        words = data(out, "transcribe").get("words") or []
        if not words or "pauses" not in data(out, "prosody"):
            continue
        vad = [tuple(p) for p in data(out, "prosody")["pauses"]]
        gaps = vc.word_gaps(words, data(out, "transcribe").get("subject"), min_pause)
        vad_n.append(len(vad))
        asr_n.append(len(gaps))
        hits += vc.overlap_matches(vad, gaps)
        matched_asr += vc.overlap_matches(gaps, vad)
    return {
        "asr_gaps": int(sum(asr_n)),
        "vad_confirmed_by_asr": _share(hits, sum(vad_n)),
        "asr_gaps_found_by_vad": _share(matched_asr, sum(asr_n)),
        "count_r": vc.pearson(vad_n, asr_n),
    }


def pause_check(results: dict, min_pause: float) -> dict[str, Any]:
    """VAD pauses against two references: Praat's silences and the ASR word timing."""
    return {**praat_agreement(results), **asr_agreement(results, min_pause)}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def face_frames(results: dict) -> list[tuple[str, dict[str, list]]]:
    """(clip, per-frame series) of every clip with a face."""
    return [(n, data(o, "analyze_face")["series"]) for n, o in results.items()
            if summary(o, "analyze_face")]  # fmt: skip


def smile_check(results: dict, threshold: float) -> dict[str, Any]:
    """The 7-class model's "happy" against the smile blendshapes, frame by frame."""
    happy, smiling = [], []
    for _, s in face_frames(results):
        for label, smile in zip(s["expression"], s["smile"], strict=True):
            if label is not None and smile is not None:
                happy.append(label == "happy")
                smiling.append(smile >= threshold)
    return {"frames": len(happy), "kappa": vc.cohen_kappa(happy, smiling),
            "happy_share": round(float(np.mean(happy)), 3) if happy else None,
            "smile_share": round(float(np.mean(smiling)), 3) if smiling else None}  # fmt: skip


def blink_check(results: dict, threshold: float) -> dict[str, Any]:
    """Blink counts from the blendshapes against counts from the eye aspect ratio."""
    from daemon.visual import events as vs

    shapes, ear, withheld = [], [], []
    for name, s in face_frames(results):
        shapes.append(vs.blink_count(s, threshold))
        ear.append(vs.ear_blink_count(s))
        if "blinks_per_min" in data(results[name], "analyze_face").get("withheld", {}):
            withheld.append(name)
    diffs = np.abs(np.subtract(shapes, ear)) if shapes else np.array([0])
    return {"clips": len(shapes), "count_r": vc.pearson(shapes, ear),
            "median_abs_diff": float(np.median(diffs)), "withheld": withheld}  # fmt: skip


def nod_check(results: dict, tracks: int = 40) -> dict[str, Any]:
    """Nod precision and recall on synthetic tracks; rates on the real clips."""
    from daemon.visual.nods import nod_times
    from tests.support.pose_tracks import make_track, match

    tp = fp = fn = 0
    for seed in range(tracks):
        track = make_track(seed, nods=0 if seed % 5 == 0 else 12)
        found = nod_times(track.t, track.pitch, 4.0, track.yaw)
        a, b, c = match(track.nods, found)
        tp, fp, fn = tp + a, fp + b, fn + c
    rates = [summary(o, "analyze_face").get("nods_per_min") for o in results.values()]
    return {"synthetic_tracks": tracks, "precision": round(tp / max(1, tp + fp), 3),
            "recall": round(tp / max(1, tp + fn), 3), "real": vc.summary_stats(rates)}  # fmt: skip


def classifier_raw_changes(labels: list[str | None]) -> int:
    """The 7-class model's top-class changes as described before the minimum dwell: a new
    class counted once it held for two frames."""
    seen = [x for x in labels if x is not None]
    changes, current = 0, seen[0] if seen else None
    for label, following in zip(seen, seen[1:], strict=False):
        if label != current and label == following:
            changes, current = changes + 1, label
    return changes


def expression_check(results: dict, fps: float) -> dict[str, Any]:
    """Expression changes per minute as described, beside the classifier's raw rate."""
    held = [summary(o, "analyze_face").get("expression_changes_per_min") for o in results.values()]
    raw = []
    for _, s in face_frames(results):
        minutes = sum(1 for f in s["face"] if f) / fps / 60.0
        raw.append(classifier_raw_changes(s["expression"]) / minutes if minutes else None)
    return {"described": vc.summary_stats(held), "classifier_raw": vc.summary_stats(raw)}


def value(outputs: dict[str, Any], m: vc.Measure) -> float | None:
    """A measure's value for one clip: a summary key, a key inside a summary mapping
    ("facial_actions.smile") or the words per second of video."""
    if m.key == "words_per_video_s":
        words = summary(outputs, "transcribe").get("word_count")
        duration = data(outputs, "probe").get("duration_s")
        return round(words / duration, 3) if words is not None and duration else None
    head, _, inner = m.key.partition(".")
    found = summary(outputs, m.stage).get(head)
    return (found or {}).get(inner) if inner else found


def measure_rows(results: dict, variants: dict[str, dict]) -> list[dict[str, Any]]:
    """Each described measure's distribution, plausible range and its shift under each
    re-encoding; `ratio` is the largest of them."""
    rows = []
    names = list(results)
    for m in vc.MEASURES:
        values = [value(results[n], m) for n in names]
        stats = vc.summary_stats(values)
        inside = [v for v in values if v is not None and m.lo <= v <= m.hi]
        row = {"measure": m.key, "unit": m.unit, **stats, "range": [m.lo, m.hi],
               "in_range": len(inside), "source": m.source}  # fmt: skip
        shifts = {variant: vc.reencode_shift(values, [value(again.get(n, {}), m) for n in names])
                  for variant, again in variants.items()}  # fmt: skip
        ratios = [x["ratio"] for x in shifts.values() if x["ratio"] is not None]
        if shifts:
            row.update(reencode=shifts, ratio=max(ratios) if ratios else None)
        rows.append(row)
    return rows


def comparisons(results: dict) -> dict[str, Any]:
    """Clips whose description compares one quantity twice with different answers, and
    how the clips spread over each quantity's bands (a norm that puts most clips on one
    side of "than most" does not describe these speakers' majority)."""
    from daemon.text.describe import DescribeInputs, StageInput, build_description
    from daemon.text.norms import load_norms

    norms, bad, bands = load_norms(), [], {}
    for name, out in results.items():
        stages = {s: StageInput((out.get(s) or {}).get("status", "absent"), summary(out, s))
                  for s in STAGES[1:]}  # fmt: skip
        text = build_description(DescribeInputs(data(out, "probe"), stages), max_tokens=4096)
        for quantity, found in norms.compared_bands(text).items():
            if len(found) > 1:
                bad.append(name)
            for band in found:
                counts = bands.setdefault(quantity, [0] * 5)
                counts[band] += 1
    return {"contradicting": sorted(set(bad)), "bands": bands}


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def print_pauses(p: dict[str, Any]) -> None:
    """The pause check's two lines: against Praat's silences and against the ASR timing."""
    print(f"pauses vs Praat silences: {p['vad_pauses']} VAD ({p['vad_total_s']} s), "
          f"{p['praat_pauses']} Praat ({p['praat_total_s']} s); count r={_fmt(p['praat_count_r'])}, "
          f"total time r={_fmt(p['praat_time_r'])}; {_fmt(p['vad_in_praat_silence'])} of VAD "
          f"pauses overlap a Praat silence, {_fmt(p['praat_found_by_vad'])} of Praat silences "
          f"overlap a VAD pause; 10 ms frames {p['praat_frames']}")  # fmt: skip
    print(f"pauses vs ASR: {p['vad_pauses']} VAD, {p['asr_gaps']} ASR word gaps; "
          f"{_fmt(p['vad_confirmed_by_asr'])} of VAD pauses overlap an ASR gap, "
          f"{_fmt(p['asr_gaps_found_by_vad'])} of ASR gaps overlap a VAD pause, "
          f"count r={_fmt(p['count_r'])}")  # fmt: skip


def pauses_only(clips: list[Path], models: Any, min_pause: float) -> int:
    """The audio stages and the pause check alone: per-clip counts, the check, one JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        print(f"analysing {len(clips)} clips (audio stages)", file=sys.stderr)
        results = analyse(clips, Path(tmp) / "original", models, AUDIO_STAGES)
    check = pause_check(results, min_pause)
    for row in check["per_clip"]:
        print(f"{row['clip']:28} VAD {row['vad']} ({row['vad_s']} s)  "
              f"Praat {row['praat']} ({row['praat_s']} s)")  # fmt: skip
    print_pauses(check)
    print(json.dumps({"bench": "validity", "clips": len(clips), "pauses": check}))
    return 0


def print_report(rows: list[dict], checks: dict[str, Any]) -> None:
    """The readable table and the checks."""
    head = f"{'measure':30} {'unit':8} {'n':>3} {'min':>8} {'median':>8} {'max':>8} "
    print(head + f"{'range':>14} {'in':>3} " + "".join(f"{v[:8]:>9}" for v in REENCODE)
          + "  source (re-encodings: median change / SD across clips)")  # fmt: skip
    for r in rows:
        span = f"{_fmt(r['range'][0])}-{_fmt(r['range'][1])}"
        shifts = "".join(f"{_fmt(r.get('reencode', {}).get(v, {}).get('ratio')):>9}"
                         for v in REENCODE)  # fmt: skip
        print(f"{r['measure']:30} {r['unit']:8} {r['n']:>3} {_fmt(r['min']):>8} "
              f"{_fmt(r['median']):>8} {_fmt(r['max']):>8} {span:>14} {r['in_range']:>3} "
              f"{shifts}  {r['source']}")  # fmt: skip
    s, p, sm, b, n, e = (checks[k] for k in ("syllables", "pauses", "smile", "blinks", "nods",
                                              "expressions"))  # fmt: skip
    print()
    ot = s["official_transcripts"]
    print(f"syllables/word (20+ words): {s['per_word']} all in 1.25-1.7: {s['all_in_range']}")
    for clip, why in s["outside_range"].items():
        print(f"  outside 1.25-1.7: {clip} {why}")
    print(f"  {ot['n']} official transcripts (20+ words): percentiles {ot['percentiles']}, "
          f"{_fmt(ot['share_outside_range'])} outside 1.25-1.7")  # fmt: skip
    print(f"acoustic vs transcript syllable rate: r={_fmt(s['acoustic_vs_transcript_r'])}, "
          f"acoustic/transcript median {_fmt(s['acoustic_over_transcript'])}")  # fmt: skip
    print_pauses(p)
    print(f"smile blendshape vs 'happy': kappa={_fmt(sm['kappa'])} over {sm['frames']} frames "
          f"(happy {_fmt(sm['happy_share'])}, smile {_fmt(sm['smile_share'])})")  # fmt: skip
    print(f"blinks blendshape vs eye aspect ratio: r={_fmt(b['count_r'])}, median |diff| "
          f"{_fmt(b['median_abs_diff'])} per clip, withheld on {b['withheld']}")  # fmt: skip
    print(f"nods synthetic: precision {n['precision']}, recall {n['recall']}; real per min "
          f"{n['real']}")  # fmt: skip
    print(f"expression changes per min: described {e['described']}, "
          f"7-class model raw {e['classifier_raw']}")  # fmt: skip
    c = checks["comparisons"]
    print(f"descriptions with contradicting comparisons: {c['contradicting']}")
    print("clips per comparison band (lowest to highest): "
          + ", ".join(f"{q} {b}" for q, b in sorted(c["bands"].items())))  # fmt: skip
    if checks["unstable"] is not None:
        print(
            f"measures moving more than half their spread under re-encoding: {checks['unstable']}"
        )
        print(f"  by the mean change instead of the median: {checks['unstable_by_mean']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, help="a folder of further videos")
    parser.add_argument("--limit", type=int, default=0, help="only the first N clips")
    parser.add_argument("--no-reencode", action="store_true", help="skip the re-encoded run")
    parser.add_argument("--pauses-only", action="store_true", help="audio stages, pause check")
    args = parser.parse_args()
    from daemon.config import AudioConfig, VisualConfig
    from daemon.model_cache import ModelCache

    clips = find_clips(args.clips, args.limit)
    if not clips:
        print(f"no clips in {FI_DIR / 'clips'}", file=sys.stderr)
        return 1
    models = ModelCache("cpu")
    if args.pauses_only:
        return pauses_only(clips, models, AudioConfig().min_pause_s)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"analysing {len(clips)} clips", file=sys.stderr)
        results = analyse(clips, Path(tmp) / "original", models)
        variants = {}
        for variant, settings in ({} if args.no_reencode else REENCODE).items():
            folder = Path(tmp) / variant
            folder.mkdir()
            copies = [reencode(c, folder / c.name, **settings) for c in clips]
            print(f"analysing the copies re-encoded {variant} ({settings})", file=sys.stderr)
            variants[variant] = analyse(copies, Path(tmp) / f"{variant}-home", models)
    vcfg = VisualConfig()
    rows = measure_rows(results, variants)
    checks = {
        "syllables": syllable_check(results, official_transcripts()),
        "pauses": pause_check(results, AudioConfig().min_pause_s),
        "smile": smile_check(results, vcfg.smile_threshold),
        "blinks": blink_check(results, vcfg.blink_threshold),
        "nods": nod_check(results),
        "expressions": expression_check(results, vcfg.sample_fps),
        "comparisons": comparisons(results),
        "unstable": None if not variants else
        [r["measure"] for r in rows if r.get("ratio") is not None and r["ratio"] > UNSTABLE_RATIO],
        "unstable_by_mean": None if not variants else
        {r["measure"]: {v: x["mean_ratio"] for v, x in r["reencode"].items()} for r in rows
         if any((x["mean_ratio"] or 0) > UNSTABLE_RATIO for x in r["reencode"].values())},
    }  # fmt: skip
    print_report(rows, checks)
    print(json.dumps({"bench": "validity", "clips": len(clips), "reencode": REENCODE,
                      "measures": rows, **checks}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
