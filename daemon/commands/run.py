"""`lprd run`: the daemon in the foreground (what systemd runs)."""

from __future__ import annotations

import argparse
import logging
import os

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

    if getattr(args, "own_process", False) and not config.allow_downloads:
        from daemon.netlock import lock_network

        if lock_network():
            logging.getLogger("lprd.daemon").info(
                "network: off (only local sockets; allow_downloads = true lifts this)"
            )

    daemon = Daemon(config, until_idle=args.until_idle)
    code = daemon.run()
    if daemon.stuck_workers() and getattr(args, "own_process", False):
        # A stage still inside native code (a CTranslate2 or torch thread) would abort the
        # interpreter's shutdown ("terminate called without an active exception"): its run
        # is already back in the queue, so leave at once.
        logging.shutdown()
        os._exit(code)
    return code
