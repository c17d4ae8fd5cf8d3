"""`lprd serve`: the read-only web dashboard (status, videos, reports, failures, models)."""

from __future__ import annotations

import argparse

from daemon.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="read-only web dashboard (localhost by default)")
    parser.add_argument("--host", help="address to bind (default serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default serve.port, 8765)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from daemon.runtime.home import database_initialised, refuse_empty_database
    from daemon.web.app import create_app
    from daemon.web.auth import check_bind, serve_token
    from storage.db import safe_url

    host = args.host or config.serve.host
    port = args.port or config.serve.port
    token = serve_token(config)
    check_bind(host, token)
    refuse_empty_database(config.database_url)  # an empty file stays empty
    if not database_initialised(config.database_url):
        print(f"no database at {safe_url(config.database_url)}: run `lprd init` first")
        return 1
    app = create_app(config, token, bind=(host, port))
    where = f"http://{host}:{port}/"
    print(f"lprd dashboard on {where}" + (" (token required)" if token else ""), flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
