"""The ASGI app: the SDK's Streamable HTTP endpoint at `/mcp` behind the Gate, with `/healthz`, `/readyz`
and (with OAuth) the protected-resource metadata."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..context import AppState
from ..oauth import Introspector, OAuthConfig
from ..settings import Settings
from .gate import Gate
from .limits import (
    LOOPBACK_HOSTS,
    LOOPBACK_ORIGINS,
    RateLimit,
    RateLimiter,
    TrustedProxies,
    is_loopback,
    names,
    parse_size,
)
from .sessions import SessionCaps
from .tokens import TokenMap

READY_TIMEOUT = 5.0  # seconds a readiness check may take
READY_CACHE = 2.0  # seconds a readiness answer is reused (the probe is unauthenticated)


class _StateRef:
    """The server's AppState once its lifespan runs (the SDK enters it with the session manager)."""

    state: AppState | None = None


def _capture_state(server: MCPServer, ref: _StateRef, oauth: Introspector | None = None) -> None:
    lowlevel = server.session_manager.app
    inner: Callable[[Any], Any] = lowlevel.lifespan

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            ref.state = state
            try:
                yield state
            finally:
                ref.state = None
                if oauth is not None:
                    await oauth.aclose()

    lowlevel.lifespan = lifespan


def _readiness(settings: Settings, tokens: TokenMap, ref: _StateRef, oauth: OAuthConfig | None = None):
    # Check the credentials tools would use: the server's own, or (when only tokens or OAuth accounts
    # carry keys) the first of those.
    mapped = [e.credentials for e in tokens.entries] + list(oauth.accounts.values() if oauth else ())
    keyed = [c for c in mapped if c.api_key is not None]
    creds = keyed[0] if keyed and settings.api_key is None and not settings.sandbox else None
    cache: list[Any] = [0.0, None]

    async def readyz(request: Request) -> Response:
        if time.monotonic() - cache[0] < READY_CACHE and cache[1] is not None:
            return JSONResponse(*cache[1])
        state = ref.state
        if state is None:
            return JSONResponse({"status": "starting"}, 503)
        try:
            with anyio.fail_after(READY_TIMEOUT):
                client = await state.client(creds)
                await client.get("/clients", query={"limit": 1}, team=state.default_team(creds))
            answer: tuple[dict[str, Any], int] = ({"status": "ready"}, 200)
        except Exception as exc:  # any failure means "do not route traffic here"
            reason = f"HTTP {exc.status_code}" if hasattr(exc, "status_code") else type(exc).__name__
            answer = ({"status": "unavailable", "reason": f"gigstack check failed: {reason}"}, 503)
        cache[:] = [time.monotonic(), answer]
        return JSONResponse(*answer)

    return readyz


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def build_http_app(
    settings: Settings,
    tokens: TokenMap | None = None,
    stateless: bool | None = None,
    *,
    host: str = "127.0.0.1",
    server: MCPServer | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The ASGI app: `/mcp` (Streamable HTTP, both protocol eras), `/healthz`, `/readyz`, and with OAuth
    the protected-resource metadata. Builds a fresh MCPServer unless one is given (the SDK's session
    manager runs once per server). Limits, allowed hosts/origins and OAuth come from `settings`
    (GIGSTACK_MCP_*), tokens too unless given."""
    from ..server import build_server

    tokens = TokenMap.from_settings(settings) if tokens is None else tokens
    stateless = settings.mcp_stateless if stateless is None else stateless
    rate = RateLimit.parse(settings.mcp_rate_limit)
    auth_rate = RateLimit.parse(settings.mcp_auth_fail_limit)
    proxies = TrustedProxies(names(settings.mcp_trusted_proxies))
    max_body = parse_size(settings.mcp_max_body)
    extra_hosts, extra_origins = names(settings.mcp_allowed_hosts), names(settings.mcp_allowed_origins)
    loopback = is_loopback(host)
    hosts = (*LOOPBACK_HOSTS, *extra_hosts) if loopback or extra_hosts else None
    origins = (*LOOPBACK_ORIGINS, *extra_origins) if loopback else tuple(extra_origins)
    if stateless and settings.confirm_secret is None:
        print(
            "gigstack-mcp: WARNING: --stateless without GIGSTACK_CONFIRM_SECRET: confirmation tokens and "
            "elicitation state from this replica are not honoured by any other replica; set the same "
            "secret on every replica.",
            file=sys.stderr,
        )

    oauth_config = OAuthConfig.from_settings(settings)
    oauth = Introspector(oauth_config) if oauth_config else None
    server = server or build_server(settings)
    ref = _StateRef()
    if oauth_config is not None:
        document = oauth_config.metadata()

        async def protected_resource(request: Request) -> Response:
            return JSONResponse(document, headers={"Cache-Control": "public, max-age=3600"})

        for path in oauth_config.metadata_paths:
            server.custom_route(path, methods=["GET"], include_in_schema=False)(protected_resource)
    server.custom_route("/healthz", methods=["GET"], include_in_schema=False)(healthz)
    server.custom_route("/readyz", methods=["GET"], include_in_schema=False)(
        _readiness(settings, tokens, ref, oauth_config)
    )
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=stateless,
        max_request_body_size=max_body,
        max_sessions=settings.mcp_max_sessions or None,
        # Host/Origin are checked by the Gate (before auth, with --allowed-hosts/--allowed-origins).
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=host,
    )
    _capture_state(server, ref, oauth)
    caps = None
    if not stateless:  # stateless mode keeps no sessions to count
        per_token = settings.mcp_max_sessions_per_token or None
        caps = SessionCaps(server.session_manager, per_token, settings.mcp_max_sessions or None)
    app.add_middleware(
        Gate,
        tokens=tokens,
        limiter=RateLimiter(rate) if rate else None,
        hosts=hosts,
        origins=origins,
        oauth=oauth,
        auth_limiter=RateLimiter(auth_rate) if auth_rate else None,
        proxies=proxies,
        sessions=caps,
        max_body=max_body,
        clock=clock,
    )
    app.state.gigstack = ref
    app.state.mcp_server = server
    return app
