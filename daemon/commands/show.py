"""`lprd show VIDEO`: every stage's state and output, and the predicted scores."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from daemon.commands._common import open_db, resolve_video
from daemon.config import Config
from daemon.pipeline import Pipeline
from daemon.video_record import latest_prediction, read_output, stage_runs
from storage.artifacts import ArtifactStore
from storage.models import DONE, FAILED, SKIPPED, Prediction, StageRun, Video
from storage.states import ErrorKind


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("show", help="show a video's stages, outputs and scores")
    parser.add_argument("video", help="video id, sha256 prefix or file name")
    parser.add_argument("--stage", help="print this stage's whole JSON output")
    parser.set_defaults(handler=handle)


def _runs_table(runs: list[StageRun], order: list[str]) -> Table:
    table = Table(show_lines=False)
    for col in ("stage", "status", "tries", "backend", "seconds", "result / message"):
        table.add_column(col, overflow="fold")
    rank = {name: i for i, name in enumerate(order)}
    for run in sorted(runs, key=lambda r: rank.get(r.stage, 99)):
        message = run.summary or ""
        if run.status == FAILED or run.error_kind in (ErrorKind.WAITING, ErrorKind.TRANSIENT):
            message = run.last_error or message
        elif run.status == SKIPPED:
            message = run.skip_reason or message
        seconds = f"{run.duration_s:.1f}" if run.duration_s is not None else ""
        table.add_row(
            run.stage,
            run.status,
            f"{run.attempts}/{run.max_attempts}",
            run.backend or "",
            seconds,
            message,
        )
    return table


def handle(args: argparse.Namespace, config: Config) -> int:
    db = open_db(config)
    video = resolve_video(db, args.video)
    console = Console()
    store = ArtifactStore(config.store_dir)
    runs = stage_runs(db, video.id)
    prediction = latest_prediction(db, video.id)
    if args.stage:
        run = next((r for r in runs if r.stage == args.stage), None)
        output = read_output(store, run) if run is not None else None
        if output is None:
            console.print(f"stage {args.stage!r} has no output for this video")
            return 1
        print(json.dumps(output, indent=1, ensure_ascii=False))
        return 0
    console.print(
        f"[bold]#{video.id} {video.name}[/]  sha256 {video.sha256}  {video.size_bytes} bytes"
    )
    console.print(f"file: {video.path}")
    console.print(_runs_table(runs, Pipeline.default().order))
    _print_subject(console, store, runs, video)
    _print_scores(console, prediction)
    db.dispose()
    return 0


def _print_subject(
    console: Console, store: ArtifactStore, runs: list[StageRun], video: Video
) -> None:
    """Who the subject is and who chose them, from the diarize output."""
    from daemon.audio.turns import subject_sentence

    run = next((r for r in runs if r.stage == "diarize" and r.status == DONE), None)
    output = read_output(store, run) if run is not None else None
    if output is not None:
        console.print(
            subject_sentence((output.get("data") or {}).get("summary") or {}), markup=False
        )
    elif video.subject_speaker:
        console.print(f"Subject: {video.subject_speaker} (chosen by the user; diarize pending)")


def _print_scores(console: Console, prediction: Prediction | None) -> None:
    if prediction is None:
        console.print("scores: none yet")
        return
    from daemon.learn.report import reasons_table, scores_table
    from storage.models import TARGETS

    scores = {t: getattr(prediction, t) for t in TARGETS}
    details = json.loads(prediction.details_json or "{}")
    console.print(serving_line(prediction.model_version, details))
    console.print(
        scores_table(
            scores,
            title="scores",
            intervals=details.get("intervals") or None,
            level=details.get("interval_level"),
        )
    )
    if details.get("reasons"):
        console.print(reasons_table(details["reasons"]))


def serving_line(version: str, details: dict) -> str:
    """Which profile and model served, and its validation accuracy beside the baseline."""
    line = f"served by {version}"
    if details.get("feature_profile"):
        line += f" ({details['feature_profile']} profile, {details.get('head')} head)"
    if details.get("transcript_source"):
        line += f", scoring the {details['transcript_source']}"
    acc, base = details.get("val_mean_accuracy"), details.get("val_baseline_mean_accuracy")
    if acc is not None and base is not None:
        line += f": validation mean accuracy {acc:.4f}, train-mean baseline {base:.4f}"
    return line
