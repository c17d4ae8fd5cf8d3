"""`lprd eval`: a model's accuracy beside the train-mean baseline on a labelled split."""

from __future__ import annotations

import argparse
import json

from daemon.commands._common import open_existing_db
from daemon.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluate a model on the validation or test split")
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--model", help="model version (default: the promoted one)")
    parser.add_argument("--profile", choices=("full", "transcript_only"), help="feature profile")
    parser.add_argument(
        "--set",
        dest="target_set",
        metavar="NAME",
        help="a study's target set (default: the built-in first_impressions)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    from rich.console import Console

    from daemon.learn.base_cache import base_cache_dir
    from daemon.learn.evaluate import evaluate_version, pick_model
    from daemon.learn.model_sets import trained_set
    from daemon.learn.report import (
        baseline_statement,
        bootstrap_table,
        coverage_line,
        eval_table,
        few_groups_statement,
        headline_line,
    )
    from daemon.model_cache import resolve_device

    db = open_existing_db(config)
    row = pick_model(db, args.model, args.profile, args.target_set)
    target_set = trained_set(row, config)
    level = config.train.interval_level
    device = resolve_device(config.device)
    result = evaluate_version(
        db, row, args.split, device, level, base_cache_dir(config), target_set
    )
    db.dispose()
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    console = Console()
    console.print(eval_table(result, target_set))
    console.print(coverage_line(result["intervals"], target_set))
    boot = result["bootstrap"]
    console.print(bootstrap_table(boot, target_set))
    console.print(headline_line(boot, target_set))
    for statement in (baseline_statement(boot), few_groups_statement(boot)):
        if statement:
            console.print(f"[bold]{statement}[/]")
    return 0
