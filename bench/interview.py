"""Long interviews through the daemon: videos of several minutes made of the shared First
Impressions clips (a different person every 15 s), dropped into a fresh home whose
promoted model is the transcript-only embedding head, processed by `lprd run --until-idle`.

Per video: seconds per second of video for every stage (1.0 = real time), the wall time,
the peak RSS of the daemon, the estimated vs the true number of speakers and the
diarization error rate (pyannote.metrics) against the clips' known boundaries, and how the
video was scored: segments, the aggregate with its interval, out-of-range flags.

Usage: python bench/interview.py [--minutes 4,30] [--train-rows 2000] [--size 640x360]
[--keep DIR].
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.long_video import build_long_video, reference_speech  # noqa: E402

FI_DIR = REPO.parent / "shared" / "data" / "first_impressions_v2"
LPRD = [sys.executable, "-m", "daemon"]
ANALYSIS = ("extract_audio", "diarize", "transcribe", "speech_emotion", "prosody", "analyze_face")
PICKLES = [
    FI_DIR / f"{kind}_{split}.pkl"
    for kind in ("annotation", "transcription")
    for split in ("training", "validation")
]


def config(train_rows: int) -> str:
    """The bench home's config: embedded defaults, a quick transcript-only model."""
    return f"""
[inbox]
stable_seconds = 0
[workers]
poll_interval_s = 0.5
[train]
heads = ["embedding"]
profiles = ["transcript_only"]
max_train_rows = {train_rows}
min_new_labelled = 1000000
"""


def lprd(home: Path, *args: str) -> None:
    """Run one lprd command on `home`, failing loudly."""
    subprocess.run([*LPRD, "--home", str(home), *args], check=True, cwd=REPO)


def prepare_home(home: Path, train_rows: int) -> float:
    """init, import the FI labels and transcripts, describe them, train; seconds taken."""
    start = time.perf_counter()
    home.mkdir(parents=True)
    (home / "lprd.toml").write_text(config(train_rows))
    lprd(home, "init")
    lprd(home, "labels", "import", *map(str, PICKLES))
    lprd(home, "labels", "describe")
    lprd(home, "train")
    return time.perf_counter() - start


def run_daemon(home: Path) -> tuple[float, float]:
    """`lprd run --until-idle` on `home`: (wall seconds, peak RSS in GB of its process
    tree, sampled every 0.5 s)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen([*LPRD, "--home", str(home), "run", "--until-idle"], cwd=REPO)
    peak = 0
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.5)
    if proc.returncode != 0:
        raise SystemExit(f"lprd run exited {proc.returncode}")
    return time.perf_counter() - start, peak / 1e9


def outputs(home: Path) -> tuple[dict[str, float], dict[str, dict], dict[str, str]]:
    """(seconds per stage, each stage's recorded output, each stage's status) of the one
    video in `home`."""
    from daemon.config import load_config
    from daemon.video_record import read_output, stage_runs
    from storage.artifacts import ArtifactStore
    from storage.db import Database
    from storage.models import Video

    cfg = load_config(home)
    db = Database(cfg.database_url)
    store = ArtifactStore(cfg.store_dir)
    with db.read() as session:
        video_id = session.query(Video.id).scalar()
    runs = stage_runs(db, video_id)
    db.dispose()
    seconds = {r.stage: float(r.duration_s or 0.0) for r in runs}
    data = {r.stage: (output.data if (output := read_output(store, r)) else {}) for r in runs}
    return seconds, data, {r.stage: str(r.status) for r in runs}


def diarization(placed: list, turns: list[dict]) -> dict[str, Any]:
    """Speaker count and DER of the daemon's turns against the clips' speech."""
    from daemon.audio.diarization_eval import score
    from daemon.config import AudioConfig
    from daemon.model_cache import ModelCache

    reference = reference_speech(placed, ModelCache(), AudioConfig().vad_threshold)
    return score(reference, turns)


def measure(minutes: float, clips: list[Path], tmp: Path, args: argparse.Namespace) -> dict:
    """Build one video, run it through a prepared home, gather the figures."""
    home = tmp / f"home-{minutes:g}"
    subprocess.run(["cp", "-a", str(tmp / "home"), str(home)], check=True)
    video = tmp / f"interview-{minutes:g}min.mp4"
    t0 = time.perf_counter()
    placed = build_long_video(clips, minutes * 60, video, args.size)
    build_s = time.perf_counter() - t0
    duration = placed[-1].start + placed[-1].length
    video.rename(home / "inbox" / video.name)
    wall, rss = run_daemon(home)
    seconds, data, status = outputs(home)
    predict = data.get("predict") or {}
    return {
        "minutes": minutes,
        "duration_s": round(duration, 2),
        "build_s": round(build_s, 1),
        "wall_s": round(wall, 1),
        "wall_rtf": round(wall / duration, 3),
        "analysis_rtf": round(sum(seconds.get(s, 0.0) for s in ANALYSIS) / duration, 3),
        "stage_rtf": {s: round(v / duration, 4) for s, v in seconds.items()},
        "status": status,
        "peak_rss_gb": round(rss, 2),
        "diarization": diarization(placed, (data.get("diarize") or {}).get("turns") or []),
        "segments": len(predict.get("segments") or []),
        "scores": predict.get("scores"),
        "intervals": predict.get("intervals"),
        "flags": predict.get("flags") or [],
        "words": ((data.get("transcribe") or {}).get("summary") or {}).get("word_count"),
    }


def table(results: list[dict]) -> None:
    """The readable table."""
    print(f"{'video':>8} {'length s':>9} {'wall x':>7} {'analysis x':>10} {'RSS GB':>7} "
          f"{'speakers':>9} {'DER':>6} {'segments':>8}")  # fmt: skip
    for r in results:
        d = r["diarization"]
        der = d["collar_0.25"]["der"]
        print(
            f"{r['minutes']:>6g}mn {r['duration_s']:>9.1f} {r['wall_rtf']:>7.3f} "
            f"{r['analysis_rtf']:>10.3f} {r['peak_rss_gb']:>7.2f} "
            f"{d['found_speakers']:>4}/{d['true_speakers']:<4} {der:>6.3f} {r['segments']:>8}"
        )
        stages = ", ".join(f"{s} {v:.3f}" for s, v in r["stage_rtf"].items())
        print(f"         seconds per second of video: {stages}")
        if r["scores"]:
            scores = ", ".join(
                f"{t[:4]} {v:.2f} [{lo:.2f}, {hi:.2f}]"
                for t, v in r["scores"].items()
                for lo, hi in [r["intervals"].get(t) or (float("nan"), float("nan"))]
            )
            print(f"         scores: {scores}")
        for flag in r["flags"]:
            print(f"         flag: {flag.get('reason')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", default="4,30", help="video lengths, comma-separated")
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--size", default="640x360", help="picture size of the built videos")
    parser.add_argument("--keep", help="an empty folder to keep the homes in (for their reports)")
    args = parser.parse_args()
    args.size = tuple(int(v) for v in args.size.split("x"))
    clips = sorted((FI_DIR / "clips").glob("*.mp4"))
    if not clips or not all(p.exists() for p in PICKLES):
        print(f"needs the clips and label files in {FI_DIR}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(args.keep) if args.keep else Path(name)
        prepare_s = prepare_home(tmp / "home", args.train_rows)
        results = [measure(float(m), clips, tmp, args) for m in args.minutes.split(",")]
    table(results)
    print(json.dumps({"prepare_s": round(prepare_s, 1), "videos": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
