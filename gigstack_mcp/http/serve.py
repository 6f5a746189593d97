"""Running the HTTP app: in the foreground until SIGINT/SIGTERM (`--transport http`), or on a loopback
port in a background thread (tests, benchmarks)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn
from mcp.server import MCPServer
from starlette.types import ASGIApp

from .._threaded import ServerThread, bind_loopback
from ..oauth import OAuthConfig, OAuthConfigError
from ..settings import Settings
from .app import build_http_app
from .errors import HttpConfigError
from .limits import is_loopback
from .logs import all_secrets, json_log_handler
from .tokens import TokenMap

log = logging.getLogger("gigstack_mcp.http")


def check_bind(host: str, tokens: TokenMap, oauth: bool = False) -> None:
    if not is_loopback(host) and not tokens and not oauth:
        raise HttpConfigError(
            f"refusing to listen on {host} without authentication: set --auth-token, "
            "GIGSTACK_MCP_AUTH_TOKENS, --auth-tokens-file or OAuth (or bind 127.0.0.1)"
        )


def uvicorn_config(app: ASGIApp, settings: Settings, host: str, port: int, **kw: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,  # our JSON handler on the root logger
        access_log=False,  # the Gate writes the access log (with the principal, never a token)
        proxy_headers=False,  # X-Forwarded-For is the Gate's, and only from --trusted-proxies
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=settings.mcp_shutdown_timeout,
        **kw,
    )


def serve_http(server: MCPServer, settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run until SIGINT/SIGTERM; then stop accepting, let in-flight calls finish, close clients."""
    try:
        tokens = TokenMap.from_settings(settings)
        check_bind(host, tokens, OAuthConfig.from_settings(settings) is not None)
        app = build_http_app(settings, tokens, settings.mcp_stateless, host=host, server=server)
    except (HttpConfigError, OAuthConfigError) as exc:
        print(f"gigstack-mcp: {exc}", file=sys.stderr)
        sys.exit(2)
    root = logging.getLogger()
    root.handlers = [json_log_handler(all_secrets(settings, tokens))]
    for name in ("gigstack_mcp.http",):
        if logging.getLogger(name).getEffectiveLevel() > logging.INFO:
            logging.getLogger(name).setLevel(logging.INFO)
    log.info(
        "MCP over Streamable HTTP on http://%s:%s/mcp",
        host,
        port,
        extra={
            "fields": {
                "event": "start",
                "tokens": len(tokens),
                "oauth": bool(settings.mcp_oauth_issuer),
                "stateless": settings.mcp_stateless,
                "rate_limit": settings.mcp_rate_limit,
                "auth_fail_limit": settings.mcp_auth_fail_limit,
                "trusted_proxies": settings.mcp_trusted_proxies,
                "max_sessions": settings.mcp_max_sessions,
                "max_sessions_per_token": settings.mcp_max_sessions_per_token,
                "max_body": settings.mcp_max_body,
            }
        },
    )
    uvicorn.Server(uvicorn_config(app, settings, host, port)).run()


class BackgroundServer:
    """The HTTP app on a loopback port in a daemon thread (tests, benchmarks): `.url` is the base URL."""

    def __init__(self, app: ASGIApp, settings: Settings, host: str = "127.0.0.1", port: int = 0) -> None:
        sock = bind_loopback(host, port)
        self.host, self.port = sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = ServerThread(
            uvicorn_config(app, settings, self.host, self.port), sock, "the HTTP server", "gigstack-mcp-http"
        )
        self.server = self._thread.server

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """What SIGTERM does: stop accepting, let in-flight requests finish, then run the lifespan exit."""
        self._thread.shutdown()

    def join(self, timeout: float | None = None) -> bool:
        return self._thread.join(timeout)

    def stop(self) -> None:
        self._thread.stop(timeout=15)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
