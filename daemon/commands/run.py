"""`lprd run`: the daemon in the foreground (what systemd runs)."""

from __future__ import annotations

import argparse

from daemon.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run the daemon in the foreground")
    parser.add_argument(
        "--until-idle",
        action="store_true",
        help="process what is in the inbox and the queue, then exit (no watcher, no scheduler)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    from daemon.service import Daemon

    return Daemon(config, until_idle=args.until_idle).run()
