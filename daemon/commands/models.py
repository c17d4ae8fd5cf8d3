"""`lprd models`: the backends each stage can use, and the trained model versions."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from daemon.config import Config
from daemon.pipeline import Pipeline


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list stage backends and trained model versions")
    parser.set_defaults(handler=handle)


def backends_table(config: Config, pipeline: Pipeline) -> Table:
    """One row per backend: which stage, model, whether its weights are here, active or not."""
    table = Table(title="stage backends", title_justify="left")
    for col in ("stage", "backend", "model", "weights", "active", "note"):
        table.add_column(col, overflow="fold")
    for name in pipeline.order:
        stage = pipeline[name]
        if stage.backends is None:
            continue
        for info in stage.backends(config):
            table.add_row(
                info.stage,
                info.name,
                info.model,
                "[green]present[/]" if info.available else "[red]absent[/]",
                "[bold]yes[/]" if info.active else "",
                info.detail,
            )
    return table


def handle(args: argparse.Namespace, config: Config) -> int:
    console = Console()
    console.print(backends_table(config, Pipeline.default()))
    from storage.db import Database, is_initialised

    if is_initialised(config.database_url):
        try:
            from daemon.learn.registry import model_versions_table
        except ImportError:
            return 0
        db = Database(config.database_url)
        console.print(model_versions_table(db))
        db.dispose()
    return 0
