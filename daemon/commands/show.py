"""`lprd show VIDEO`: every stage's state and output, and the predicted scores of every
target set the video has predictions for (the built-in set first), each on its declared
scale."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from daemon.commands._common import open_existing_db, resolve_video
from daemon.config import Config
from daemon.pipeline import Pipeline
from daemon.targets import TargetSet
from daemon.video_record import read_output, stage_runs
from storage.artifacts import ArtifactStore
from storage.db import Database
from storage.models import DONE, FAILED, SKIPPED, Prediction, StageRun, Video
from storage.states import ErrorKind


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("show", help="show a video's stages, outputs and scores")
    parser.add_argument("video", help="video id, sha256 prefix or file name")
    parser.add_argument("--stage", help="print this stage's whole JSON output")
    parser.add_argument(
        "--segment",
        type=int,
        metavar="N",
        help="print the descriptions of segment N (1 = first) of a long video",
    )
    parser.add_argument(
        "--set", dest="target_set", metavar="NAME",
        help="show the scores of this target set only (default: every set the video has)",
    )  # fmt: skip
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
    db = open_existing_db(config)
    video = resolve_video(db, args.video)
    console = Console()
    store = ArtifactStore(config.store_dir)
    runs = stage_runs(db, video.id)
    if args.stage:
        run = next((r for r in runs if r.stage == args.stage), None)
        output = read_output(store, run) if run is not None else None
        if output is None:
            console.print(f"stage {args.stage!r} has no output for this video")
            return 1
        print(json.dumps(output.to_json(), indent=1, ensure_ascii=False))
        return 0
    if args.segment is not None:
        run = next((r for r in runs if r.stage == "describe"), None)
        output = read_output(store, run) if run is not None else None
        return print_segment(console, output.data if output else {}, args.segment)
    predictions = _predictions(db, config, video.id, args.target_set)
    console.print(
        f"[bold]#{video.id} {video.name}[/]  sha256 {video.sha256}  {video.size_bytes} bytes"
    )
    console.print(f"file: {video.path}")
    console.print(_runs_table(runs, Pipeline.default().order))
    _print_subject(console, store, runs, video)
    if not predictions:
        what = f" of the target set {args.target_set!r}" if args.target_set else ""
        console.print(f"scores{what}: none yet", markup=False, highlight=False)
    several = len(predictions) > 1 or any(not ts.builtin for ts, _ in predictions)
    for target_set, prediction in predictions:
        _print_scores(console, prediction, target_set, titled=several)
    db.dispose()
    return 0


def _predictions(
    db: Database, config: Config, video_id: int, name: str | None
) -> list[tuple[TargetSet, Prediction]]:
    """The latest prediction of each target set the video has (of `name` only, when
    given: an error names the sets there are when no set is called that), each with the
    set it is presented with, the built-in set first."""
    from daemon import results

    latest = results.latest_by_set(db, video_id)
    if name is not None:
        if name not in latest:
            results.find_set(name, config, db)  # an unknown set: the error names the sets
            return []
        latest = {name: latest[name]}
    return [
        (results.set_of_prediction(latest[n], config), latest[n])
        for n in results.order_sets(latest, config)
    ]


def _print_subject(
    console: Console, store: ArtifactStore, runs: list[StageRun], video: Video
) -> None:
    """Who the subject is and who chose them, from the diarize output."""
    from daemon.audio.turns import subject_sentence

    run = next((r for r in runs if r.stage == "diarize" and r.status == DONE), None)
    output = read_output(store, run) if run is not None else None
    if output is not None:
        console.print(subject_sentence(output.data.get("summary") or {}), markup=False)
    elif video.subject_speaker:
        console.print(f"Subject: {video.subject_speaker} (chosen by the user; diarize pending)")


def _print_scores(
    console: Console, prediction: Prediction, target_set: TargetSet, titled: bool = False
) -> None:
    """One set's scores on its declared scale, with the serving model, flags, reasons,
    segments and context cuts."""
    from daemon import results
    from daemon.learn.report import reasons_table, scores_table

    scores = results.scores_of(prediction, target_set)
    details = json.loads(prediction.details_json or "{}")
    if titled:
        about = f": {target_set.description}" if target_set.description else ""
        console.print(
            f"\ntarget set {target_set.name}{about}", style="bold", markup=False, highlight=False
        )
    console.print(serving_line(prediction.model_version, details), highlight=False)
    console.print(
        scores_table(
            {t: v for t, v in scores.items() if v is not None},
            title="scores" if target_set.builtin else scales_title(target_set),
            intervals=details.get("intervals") or None,
            level=details.get("interval_level"),
            target_set=target_set,
        )
    )
    for line in flag_lines(details):
        console.print(line, markup=False, highlight=False)
    if details.get("reasons"):
        console.print(reasons_table(details["reasons"], target_set=target_set))
    if details.get("segments"):
        console.print(segments_table(details, target_set))
    for line in context_lines(details):
        console.print(line)


def scales_title(target_set: TargetSet) -> str:
    """'hiring scores on the declared scales (hireability 1 to 7, warmth 0 to 100)'."""
    scales = ", ".join(f"{t.name} {t.low:g} to {t.high:g}" for t in target_set.targets)
    return f"{target_set.name} scores on the declared scales ({scales})"


def segments_table(details: dict, target_set: TargetSet | None = None) -> Table:
    """One row per segment of a long video: time span, words, scores (on the set's
    declared scales), flags."""
    from daemon.learn.report import decimals
    from daemon.targets import first_impressions

    target_set = target_set or first_impressions()
    segments = details["segments"]
    title = (
        f"scored as {len(segments)} segments; the video's score is the speech-weighted mean "
        f"of the {details.get('segments_counted', len(segments))} where the subject speaks "
        "(`lprd show VIDEO --segment N` prints one's description)"
    )
    table = Table(title=title, title_justify="left")
    for col in ("#", "seconds", "words", *(t.name[:5] for t in target_set.targets), "flags"):
        table.add_column(col, overflow="fold")
    for seg in segments:
        flags = "; ".join(f.get("reason", "") for f in seg.get("flags") or [])
        shown = seg.get("scores") or {}
        table.add_row(
            str(seg["index"] + 1),
            f"{seg['start']:.1f}-{seg['end']:.1f}",
            str(seg.get("words", "")),
            *(
                f"{shown[t.name]:.{decimals(t)}f}" if shown.get(t.name) is not None else ""
                for t in target_set.targets
            ),
            flags,
        )
    return table


def flag_lines(details: dict) -> list[str]:
    """'OUTSIDE THE TRAINING RANGE: ...' lines, and why no interval is shown."""
    lines = [f"OUTSIDE THE TRAINING RANGE: {f.get('reason')}" for f in details.get("flags") or []]
    if details.get("interval_withheld_because"):
        lines.append(
            "no interval: coverage calibrated on training-like clips does not hold outside "
            "the training range (the scores are an extrapolation)"
        )
    return lines


def context_lines(details: dict) -> list[str]:
    """Where a model read less than the whole description, for people."""
    from daemon.learn.context import describe_cuts

    lines = []
    if details.get("context_cuts"):
        lines.append(f"text cut to the model's context: {describe_cuts(details['context_cuts'])}")
    for index, cuts in sorted((details.get("segment_context_cuts") or {}).items()):
        lines.append(f"segment {int(index) + 1} cut to the model's context: {describe_cuts(cuts)}")
    return lines


def print_segment(console: Console, describe: dict, number: int) -> int:
    """Print both descriptions of segment `number` (1-based) from describe's output."""
    segments = describe.get("segments") or []
    if not 1 <= number <= len(segments):
        console.print(
            f"this video has {len(segments)} segments"
            + (f"; pick 1-{len(segments)}" if segments else " (it is scored whole)")
        )
        return 1
    seg = segments[number - 1]
    console.print(f"[bold]segment {number}[/]: {seg['start']:.1f}-{seg['end']:.1f} s")
    for profile, text in seg["texts"].items():
        console.print(f"\n[bold]{profile}[/]")
        console.print(text, markup=False, highlight=False)
    return 0


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
