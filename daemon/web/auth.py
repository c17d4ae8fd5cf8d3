"""Who may read the dashboard: anyone on loopback, or whoever shows the token.

The token can come as `Authorization: Bearer <token>`, as `?token=<token>` (which sets
a same-site cookie and redirects to the clean URL), or as that cookie.

On loopback, a request must also name the dashboard in its `Host` header (`localhost`,
`127.0.0.1` or `[::1]` with the port): a page of another site whose name was made to
resolve to 127.0.0.1 (DNS rebinding) sends its own name there and gets 421.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from daemon.config import Config
from daemon.errors import ConfigError

TOKEN_ENV = "LPRD_SERVE_TOKEN"
COOKIE = "lprd_token"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_token(config: Config, env: Mapping[str, str] | None = None) -> str | None:
    """The configured token: serve.token, else $LPRD_SERVE_TOKEN, else None."""
    env = os.environ if env is None else env
    return config.serve.token or env.get(TOKEN_ENV) or None


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"binding the dashboard to {host} exposes it beyond this machine: set serve.token "
            f"in lprd.toml or ${TOKEN_ENV} (16 characters or more), or bind to 127.0.0.1"
        )
    if token is not None and len(token) < 16:
        raise ConfigError(f"the dashboard token must have 16 characters or more (${TOKEN_ENV})")


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The `Host` header values a dashboard bound to loopback `host`:`port` answers."""
    bound = f"[{host}]" if ":" in host else host
    names = {*LOOPBACK_NAMES, bound.lower()}
    values = {f"{name}:{port}" for name in names}
    if port == 80:
        values |= names  # a browser leaves the default port out
    return frozenset(values)


class HostMiddleware:
    """ASGI middleware answering 421 to a request whose `Host` is not the dashboard's."""

    def __init__(self, app, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").strip().lower()
        if host in self.allowed:
            await self.app(scope, receive, send)
            return
        body = (
            b"<!doctype html><title>lprd: wrong host</title><h1>421: wrong host</h1>"
            b"<p>This dashboard answers only as localhost, 127.0.0.1 or [::1].</p>"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 421,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class TokenMiddleware:
    """ASGI middleware answering 401 to any request without the token."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.token = token

    def _matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        cookie = SimpleCookie(headers.get("cookie", "")).get(COOKIE)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self._matches(query.get("token")):
            await _redirect_setting_cookie(scope, query, self.token, send)
        elif self._matches(bearer) or self._matches(cookie.value if cookie else None):
            await self.app(scope, receive, send)
        else:
            await _unauthorized(send)


async def _redirect_setting_cookie(scope, query: dict[str, str], token: str, send) -> None:
    query.pop("token", None)
    # One leading slash: "//evil.example/" would be a redirect to another site.
    location = "/" + scope["path"].lstrip("/") + (f"?{urlencode(query)}" if query else "")
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode())],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _unauthorized(send) -> None:
    body = (
        b"<!doctype html><title>lprd: token required</title><h1>401: token required</h1>"
        b"<p>This dashboard needs its token: open it once as <code>/?token=...</code>, or send "
        b"<code>Authorization: Bearer ...</code>.</p>"
    )
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
