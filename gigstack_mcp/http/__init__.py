"""Streamable HTTP transport (`--transport http`): the SDK's MCP endpoint at `/mcp` behind bearer tokens
(each mapped server-side to its own gigstack API key and team), Host/Origin checks, body-size and
per-token rate limits, JSON-lines logs with every secret redacted, `/healthz` + `/readyz` probes and a
graceful shutdown that lets in-flight calls finish. `--stateless` keeps no per-session state, so N
replicas behind any load balancer act as one (share GIGSTACK_CONFIRM_SECRET).

One module per job: `tokens` (bearer tokens -> credentials), `limits` (rate limits, trusted proxies,
sizes, allowed hosts), `sessions` (session caps), `gate` (the middleware that applies them), `logs`
(JSON lines, redaction), `app` (the ASGI app and its probes), `serve` (foreground and background)."""

from __future__ import annotations

from .app import build_http_app, healthz
from .errors import HttpConfigError
from .gate import PROBES, Gate, count_tool_calls
from .limits import RateLimit, RateLimiter, TrustedProxies, is_loopback, parse_size
from .logs import JsonFormatter, LogHygiene, RedactSecrets, access_log, all_secrets, json_log_handler
from .serve import BackgroundServer, check_bind, serve_http, uvicorn_config
from .sessions import SessionCaps
from .tokens import MIN_TOKEN_LENGTH, TokenEntry, TokenMap

__all__ = [
    "MIN_TOKEN_LENGTH",
    "PROBES",
    "BackgroundServer",
    "Gate",
    "HttpConfigError",
    "JsonFormatter",
    "LogHygiene",
    "RateLimit",
    "RateLimiter",
    "RedactSecrets",
    "SessionCaps",
    "TokenEntry",
    "TokenMap",
    "TrustedProxies",
    "access_log",
    "all_secrets",
    "build_http_app",
    "check_bind",
    "count_tool_calls",
    "healthz",
    "is_loopback",
    "json_log_handler",
    "parse_size",
    "serve_http",
    "uvicorn_config",
]
