"""`lprd run`: the daemon in the foreground (what systemd runs)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from daemon.config import Config
from daemon.errors import ConfigError
from daemon.netlock import network_database_problem


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run the daemon in the foreground")
    parser.add_argument(
        "--until-idle",
        action="store_true",
        help="process what is in the inbox and the queue, then exit (no watcher, no scheduler)",
    )
    parser.set_defaults(handler=handle)


def catch_early_stop() -> threading.Event:
    """Remember a SIGTERM/SIGINT that arrives before the daemon installs its own handlers
    (while the stages' modules import), instead of dying of it."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def handle(args: argparse.Namespace, config: Config) -> int:
    own_process = getattr(args, "own_process", False)
    early_stop = catch_early_stop() if own_process else threading.Event()
    from daemon.runtime.service import Daemon

    if own_process and not config.allow_downloads:
        from daemon.netlock import lock_network

        problem = network_database_problem(config.database_url, "`lprd run`")
        if problem is not None:
            raise ConfigError(problem)

        if lock_network():
            logging.getLogger("lprd.daemon").info(
                "network: off (only local sockets; allow_downloads = true lifts this)"
            )

    daemon = Daemon(config, until_idle=args.until_idle)
    if early_stop.is_set():
        daemon.stop_event.set()
    code = daemon.run()
    if daemon.stuck_workers() and own_process:
        # A stage still inside native code (a CTranslate2 or torch thread) would abort the
        # interpreter's shutdown ("terminate called without an active exception"): its run
        # is already back in the queue, so leave at once.
        logging.shutdown()
        os._exit(code)
    return code
