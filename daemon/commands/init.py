"""`lprd init`: create the config file, inbox, store and database (harmless to repeat)."""

from __future__ import annotations

import argparse

from daemon.config import CONFIG_FILENAME, Config, load_config
from daemon.config.defaults import render_default_config
from daemon.runtime.home import prepare_home
from storage.db import safe_url


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("init", help="create config, inbox, store and database")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    """Create what is missing; never overwrite an existing config file."""
    config.home_dir.mkdir(parents=True, exist_ok=True)
    config_file = args.config or config.home_dir / CONFIG_FILENAME
    created = not config_file.exists()
    if created:
        config_file.write_text(render_default_config(config.home_dir), encoding="utf-8")
        config = load_config(home=config.home_dir, config_file=config_file)
    db = prepare_home(config)
    db.dispose()
    print(f"config   {config_file}{'  (created)' if created else '  (kept)'}")
    print(f"inbox    {config.inbox_dir}")
    print(f"store    {config.store_dir}")
    print(f"database {safe_url(config.database_url)}")
    print(f"next: `lprd --home {config.home_dir} run`, then drop videos into the inbox")
    return 0
