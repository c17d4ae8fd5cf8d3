"""`lprd export`: labelled descriptions as JSON lines for external training."""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.commands._common import open_existing_db
from daemon.config import Config
from daemon.errors import LprdError
from daemon.labels.files import SPLITS
from daemon.labels.store import NEUROTICISM_NOTE
from daemon.text.dataset import FORMATS, labelled_examples, write_export
from daemon.text.describe import PROFILE_FULL, PROFILES


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="write labelled descriptions (chat, alpaca or plain JSON lines)",
        description="chat and alpaca use lprd's own system prompt and answer format. "
        + NEUROTICISM_NOTE,
    )
    parser.add_argument("out", type=Path, help="output file (.jsonl); a .card.json goes beside it")
    parser.add_argument("--split", choices=SPLITS, required=True)
    parser.add_argument("--format", choices=FORMATS, default="chat")
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=PROFILE_FULL,
        help="full descriptions of processed videos, or transcript-only records",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    """Select the examples, write them, say what was left out."""
    db = open_existing_db(config)
    try:
        selection = labelled_examples(db, args.split, args.profile)
    finally:
        db.dispose()
    if not selection.examples:
        raise LprdError(
            f"no {args.profile} descriptions with labels in split {args.split}"
            + (f" (left out: {_skipped(selection.skipped)})" if selection.skipped else "")
            + "; import labels with `lprd labels import`, then process videos or run "
            "`lprd labels describe` for transcript-only records"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"split": args.split, "feature_profile": args.profile, "left_out": selection.skipped}
    card = write_export(selection.examples, args.format, args.out, meta)
    print(f"wrote {len(selection.examples)} {args.format} records to {args.out} (card: {card})")
    if selection.skipped:
        print(f"left out: {_skipped(selection.skipped)}")
    print(NEUROTICISM_NOTE)
    return 0


def _skipped(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
