"""`lprd results OUT`: every video's scores, intervals, model, flags and reasons (and on
request its measures) as one CSV, Parquet or JSONL file with a data dictionary beside it.

Reads the database and the artifact store only: nothing is created or migrated.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `results` command."""
    parser = sub.add_parser(
        "results", help="write every video's results for analysis (CSV, Parquet, JSONL)"
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="file to write")
    parser.add_argument(
        "--format",
        choices=("csv", "parquet", "jsonl"),
        help="file format (default: from OUT's suffix, else csv)",
    )
    parser.add_argument(
        "--set", dest="target_set", default="first_impressions", metavar="NAME",
        help="target set of the scores, on its declared scales (default first_impressions; "
        "any set declared as [targets.NAME] or that stored predictions belong to)",
    )  # fmt: skip
    parser.add_argument(
        "--with-measures", action="store_true",
        help="add every measure a description states and each stage's backend",
    )  # fmt: skip
    parser.add_argument(
        "--segments", action="store_true",
        help="one row per segment of a long video (a video scored whole: one row)",
    )  # fmt: skip
    parser.set_defaults(handler=handle)


def output_format(out: Path, given: str | None) -> str:
    """The format asked for, else the one OUT's suffix names, else csv."""
    if given:
        return given
    suffix = out.suffix.lower().lstrip(".")
    return {"parquet": "parquet", "pq": "parquet", "jsonl": "jsonl"}.get(suffix, "csv")


def check_out(out: Path) -> None:
    """OUT must be a file in a folder that exists."""
    from daemon.errors import LprdError

    if out.is_dir():
        raise LprdError(f"{out} is a folder: OUT names the file to write")
    if not out.parent.is_dir():
        raise LprdError(f"{out.parent} is not a folder: create it first, or write elsewhere")


def handle(args: argparse.Namespace, config: Config) -> int:
    """Write the results and their data dictionary; say where and how many rows."""
    from daemon import results
    from daemon.api import open_database
    from storage.artifacts import ArtifactStore

    check_out(args.out)
    fmt = output_format(args.out, args.format)
    if fmt == "parquet":
        results.require_parquet()
    db = open_database(config)
    try:
        target_set = results.find_set(args.target_set, config, db)  # fails before any work
        cols = results.columns(target_set, segments=args.segments, measures=args.with_measures)
        rows = results.rows(
            db, ArtifactStore(config.store_dir), target_set,
            segments=args.segments, measures=args.with_measures,
        )  # fmt: skip
        count = results.write_results(rows, cols, args.out, fmt)
    finally:
        db.dispose()
    what = "segment rows" if args.segments else "videos"
    print(
        f"wrote {count} {what} to {args.out} ({fmt}, {len(cols)} columns, "
        f"target set {target_set.name})"
    )
    print(f"data dictionary: {results.dictionary_path(args.out)}")
    return 0
