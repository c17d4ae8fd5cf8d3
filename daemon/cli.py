"""`lprd` command line: parses arguments, validates config once, dispatches a command.

Each command lives in `daemon/commands/<name>.py` with `register(subparsers)`, which adds
its parser and sets `handler(args, config) -> int`. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError

from daemon import __version__
from daemon.config import load_config
from daemon.errors import LprdError
from daemon.privacy import private_umask, quiet_libraries
from storage.db import hide_password, safe_url

COMMANDS = (
    "init",
    "run",
    "status",
    "add",
    "retry",
    "show",
    "report",
    "serve",
    "forget",
    "models",
    "labels",
    "export",
    "results",
    "train",
    "eval",
    "norms",
)


def build_parser(
    commands: tuple[str, ...] = COMMANDS, exit_on_error: bool = True
) -> argparse.ArgumentParser:
    """The argument parser with the given commands registered (default: all)."""
    parser = argparse.ArgumentParser(
        prog="lprd",
        description="LLM Personality Recognition Daemon",
        exit_on_error=exit_on_error,
    )
    parser.add_argument("--version", action="version", version=f"lprd {__version__}")
    _add_global_options(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in commands:
        importlib.import_module(f"daemon.commands.{name}").register(sub)
    _accept_global_options_after(sub)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--home", type=Path, default=default, help="lprd home folder (default $LPRD_HOME or ~/lprd)"
    )
    parser.add_argument(
        "--config", type=Path, default=default, help="config file (default HOME/lprd.toml)"
    )


def _accept_global_options_after(sub: argparse._SubParsersAction) -> None:
    """`lprd init --home DIR` works like `lprd --home DIR init`, at every command level."""
    for parser in sub.choices.values():
        _add_global_options(parser, default=argparse.SUPPRESS)
        for action in parser._subparsers._group_actions if parser._subparsers else ():
            _accept_global_options_after(action)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse with only the named command's module imported: `lprd status` must not pay
    for importing the daemon, its stages and numpy. Anything unclear: every command."""
    named = tuple(a for a in argv if a in COMMANDS)[:1]
    if named:
        try:
            return build_parser(named, exit_on_error=False).parse_args(argv)
        except argparse.ArgumentError:
            pass
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lprd` script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Called without arguments, lprd owns this process (the `lprd` script, `python -m
    # daemon`) and may lock it down; called from Python, it leaves the caller's alone.
    args.own_process = argv is None
    private_umask()
    try:
        config = load_config(home=args.home, config_file=args.config)
        quiet_libraries(allow_downloads=config.allow_downloads)
        logging.basicConfig(
            level=config.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        for noisy in ("alembic", "apscheduler"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
        return int(args.handler(args, config) or 0)
    except LprdError as exc:  # a message may quote a database URL: never its password
        print(hide_password(f"lprd: {exc}"), file=sys.stderr)
        return 2
    except OperationalError as exc:  # a server that is down, refuses us, or a locked file
        print(
            f"lprd: the database {safe_url(config.database_url)} cannot be used now: "
            f"{hide_password(str(exc.orig or exc))}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
