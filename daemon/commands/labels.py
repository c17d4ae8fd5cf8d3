"""`lprd labels import|describe|status`: ground-truth scores, splits and transcripts."""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import func, select

from daemon.commands._common import open_db, open_existing_db
from daemon.config import Config
from daemon.labels.files import SPLITS
from daemon.labels.service import import_label_files
from daemon.labels.store import NEUROTICISM_NOTE, ImportReport
from daemon.labels.study import StudyImportReport, import_study_labels, study_label_counts
from daemon.pipeline import Pipeline
from daemon.targets import get_set, target_sets
from storage.models import Label, Video


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("labels", help="import labels, build transcript-only descriptions")
    cmds = parser.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    imp = cmds.add_parser(
        "import",
        help="import label and transcript files (First Impressions pickles, CSV, JSON)",
        description="Validate every file first; on any problem nothing is written. "
        + NEUROTICISM_NOTE,
    )
    imp.add_argument("paths", nargs="+", type=Path, help="files, or folders of .pkl/.csv/.json")
    imp.add_argument("--split", choices=SPLITS, help="official split for every record imported")
    imp.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    imp.add_argument(
        "--set",
        metavar="NAME",
        help="the files rate the declared target set NAME ([targets.NAME] in the config): "
        "CSV or JSON, a clip name or sha256, optional split and group, one column per "
        "target, values on its scale",
    )
    imp.set_defaults(handler=handle_import)
    desc = cmds.add_parser(
        "describe", help="build transcript-only descriptions from the imported transcripts"
    )
    desc.add_argument("--split", choices=SPLITS, action="append", help="only these splits")
    desc.set_defaults(handler=handle_describe)
    status = cmds.add_parser("status", help="labels per split and how many match a video")
    status.set_defaults(handler=handle_status)


def handle_import(args: argparse.Namespace, config: Config) -> int:
    """Import the files, print what changed."""
    target_set = get_set(config, args.set)  # an undeclared name fails before the database
    if not target_set.builtin:
        db = open_db(config)
        try:
            study = import_study_labels(
                db, target_set, args.paths, split=args.split, dry_run=args.dry_run
            )
        finally:
            db.dispose()
        print(format_study_report(study, args.dry_run))
        return 0
    db = open_db(config)
    try:
        plans = Pipeline.default().plans
        report, requeued = import_label_files(
            db, plans, args.paths, split=args.split, dry_run=args.dry_run
        )
    finally:
        db.dispose()
    print(format_report(report, args.dry_run))
    if requeued:
        print(f"{requeued} stage runs re-queued: their descriptions quote the official transcript")
    return 0


def format_report(report: ImportReport, dry_run: bool = False) -> str:
    """A few readable lines about an import."""
    verb = "would be" if dry_run else "were"
    splits = ", ".join(f"{k} {v}" for k, v in sorted(report.by_split.items()))
    lines = [
        f"read {len(report.files)} files: {', '.join(report.files)}",
        f"{report.added} labels {verb} added, {report.changed} changed, "
        f"{report.unchanged} unchanged ({splits})",
        f"{report.with_scores} records with scores, {report.with_transcripts} with transcripts",
        NEUROTICISM_NOTE,
    ]
    if report.ignored:
        lines.insert(1, f"ignored (not label files): {', '.join(report.ignored)}")
    return "\n".join(lines)


def format_study_report(report: StudyImportReport, dry_run: bool = False) -> str:
    """A few readable lines about an import of a declared set's ratings."""
    verb = "would be" if dry_run else "were"
    splits = ", ".join(f"{k} {v}" for k, v in sorted(report.by_split.items()))
    targets = ", ".join(f"{k} {v}" for k, v in report.by_target.items())
    lines = [
        f"read {len(report.files)} files: {', '.join(report.files)}",
        f"{report.target_set}: {report.added} ratings {verb} added, {report.changed} changed, "
        f"{report.unchanged} unchanged, for {report.clips} clips ({splits or 'none'})",
        f"ratings per target: {targets or 'none'}",
    ]
    if report.empty_rows:
        lines.append(f"{report.empty_rows} rows had a clip and no rating: nothing to store")
    if report.ignored_columns:
        lines.append(
            f"not stored: {', '.join(report.ignored_columns)} (a study's labels keep ratings, "
            "split and group only)"
        )
    return "\n".join(lines)


def handle_describe(args: argparse.Namespace, config: Config) -> int:
    """Write transcript-only descriptions for labelled transcripts."""
    from daemon.text.transcript_only import build_transcript_descriptions

    db = open_existing_db(config)
    try:
        n = build_transcript_descriptions(db, args.split, max_tokens=config.describe.max_tokens)
    finally:
        db.dispose()
    print(f"{n} transcript-only descriptions written or refreshed (profile transcript_only)")
    return 0


def handle_status(args: argparse.Namespace, config: Config) -> int:
    """Counts of labels per split, transcripts, and labels whose video has arrived; the
    ratings of each declared target set."""
    db = open_existing_db(config)
    try:
        with db.read() as session:
            rows = session.execute(
                select(Label.split, func.count(), func.count(Label.transcript)).group_by(
                    Label.split
                )
            ).all()
            matched = session.scalar(
                select(func.count()).select_from(Label).join(Video, Video.name == Label.clip_name)
            )
            study = study_label_counts(session)
    finally:
        db.dispose()
    for split, n, with_text in rows:
        print(f"{split or 'no split':<11} {n:>6} labels, {with_text:>6} with transcripts")
    print(f"{matched} labels match a registered video by clip name")
    print(NEUROTICISM_NOTE)
    declared = [name for name, tset in target_sets(config).items() if not tset.builtin]
    for name in [*declared, *sorted(set(study) - set(declared))]:
        counts = study.get(name, {"clips": 0, "ratings": 0, "targets": {}})
        per = ", ".join(f"{k} {v}" for k, v in counts["targets"].items())
        print(
            f"set {name}: {counts['clips']} clips, {counts['ratings']} ratings ({per or 'none'})"
            + ("" if name in declared else "; no longer declared in the config")
        )
    return 0
