"""`lprd status`: progress per stage, throughput, ETA, failures, model, next retrain."""

from __future__ import annotations

import argparse
import json
import time

from daemon.config import Config
from storage.db import Database, safe_url


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="show progress (reads the database only)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--watch", action="store_true", help="refresh until interrupted")
    parser.add_argument("--interval", type=float, default=2.0, help="refresh interval for --watch")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    from daemon.runtime.home import database_initialised, refuse_empty_database
    from daemon.runtime.status import gather_status

    refuse_empty_database(config.database_url)  # an empty file stays empty
    if not database_initialised(config.database_url):
        print(f"no database at {safe_url(config.database_url)}: run `lprd init` first")
        return 1
    db = Database(config.database_url)
    try:
        if args.json:
            print(json.dumps(gather_status(db, config=config), indent=1))
            return 0
        from rich.console import Console
        from rich.live import Live

        from daemon.runtime.status_view import render_status

        console = Console()
        if not args.watch:
            console.print(render_status(gather_status(db, config=config)))
            return 0
        with Live(
            render_status(gather_status(db, config=config)), console=console, auto_refresh=False
        ) as live:
            while True:
                time.sleep(args.interval)
                live.update(render_status(gather_status(db, config=config)), refresh=True)
    except KeyboardInterrupt:
        return 0
    finally:
        db.dispose()
