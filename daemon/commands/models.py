"""`lprd models`: the backends each stage can use, and the trained model versions."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from daemon.config import Config
from daemon.errors import LprdError
from daemon.pipeline import Pipeline


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list stage backends and trained model versions")
    parser.add_argument(
        "--prune-cache",
        action="store_true",
        help="delete the dequantised GGUF bases that no model and no configured base uses",
    )
    parser.add_argument(
        "--retire",
        metavar="VERSION",
        help="stop serving this promoted model (its set and profile have none until the next "
        "promotion; stored predictions stay)",
    )
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


def bases_table(config: Config, users: dict[str, list[str]]) -> Table:
    """The dequantised GGUF bases in this home's cache, their size and what uses them."""
    from daemon.learn.base_cache import base_cache_dir, cached_bases

    table = Table(title="dequantised base models (HOME/cache/models)", title_justify="left")
    for col in ("folder", "GGUF", "size", "used by"):
        table.add_column(col, overflow="fold")
    for info in cached_bases(base_cache_dir(config)):
        used = users.get(info["sha256"], [])
        shown = ", ".join(used[:3]) + (f" and {len(used) - 3} more" if len(used) > 3 else "")
        table.add_row(
            Path(info["folder"]).name,
            Path(info["gguf"]).name,
            f"{info['bytes'] / 1e6:,.0f} MB",
            shown or "[dim]nothing: `lprd models --prune-cache` removes it[/]",
        )
    if not table.row_count:
        table.caption = "none: a GGUF base is dequantised here the first time it is trained"
    return table


def _retire(config: Config, version: str, console: Console) -> int:
    from daemon.learn.registry import model_versions_table, retire
    from daemon.runtime.home import database_initialised
    from storage.db import Database

    if not database_initialised(config.database_url):
        raise LprdError(f"no database at {config.database_url}: no model to retire")
    db = Database(config.database_url)
    try:
        console.print(retire(db, version))
        console.print(model_versions_table(db))
    finally:
        db.dispose()
    return 0


def handle(args: argparse.Namespace, config: Config) -> int:
    from daemon.runtime.home import database_initialised, refuse_empty_database
    from storage.db import Database

    refuse_empty_database(config.database_url)  # an empty file stays empty
    console = Console()
    if args.retire:  # an action: done (or refused) before the listing
        return _retire(config, args.retire, console)
    console.print(backends_table(config, Pipeline.default()))

    db = Database(config.database_url) if database_initialised(config.database_url) else None
    try:
        from daemon.learn.base_usage import digests_in_use
        from daemon.learn.registry import model_versions_table
    except ImportError:
        return 0
    if db is not None:
        console.print(model_versions_table(db))
    users = digests_in_use(config, db)
    if args.prune_cache:
        from daemon.learn.base_cache import base_cache_dir, prune

        for path in prune(base_cache_dir(config), users):
            console.print(f"removed {path}")
    console.print(bases_table(config, users))
    if db is not None:
        db.dispose()
    return 0
