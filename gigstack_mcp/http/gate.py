"""The Gate: the pure ASGI middleware in front of `/mcp` (Host/Origin, authentication, rate limits,
session caps, the access log)."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..context import current_credentials
from ..oauth import Grant, Introspector
from .errors import error_response, retry_after
from .limits import RateLimiter, TrustedProxies, allowed
from .logs import access_log
from .sessions import SessionCaps, legacy, opens_session, session_id
from .tokens import TokenEntry, TokenMap

PROBES = frozenset({"/healthz", "/readyz"})


def count_tool_calls(body: bytes) -> int:
    """The `tools/call` messages in a JSON-RPC body (one message or a batch); 0 when unreadable (the SDK
    then refuses it without calling anything)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return 0
    messages = data if isinstance(data, list) else [data]
    return sum(1 for m in messages if isinstance(m, dict) and m.get("method") == "tools/call")


async def _peek_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """Read the request body (None if it exceeds `limit`: the SDK answers 413) and a `receive` that
    replays it to the app."""
    messages: list[Message] = []
    size, more = 0, True
    while more and size <= limit:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(m.get("body", b"") for m in messages) if not more and size <= limit else None

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return body, replay


class Gate:
    """Pure ASGI middleware in front of the MCP endpoint, in this order: probes pass untouched; the
    client address (X-Forwarded-For only from --trusted-proxies); Host (421) and Origin (403) checks;
    too many failed authentications from this address (429, before any token is looked at); bearer
    token (401 + WWW-Authenticate), a static MCP token or an OAuth access token checked with the
    authorization server, which sets the caller's gigstack credentials for the tools and an SDK
    principal (session ownership, request-state binding); the caller's rate limit on tool calls (429 +
    Retry-After); the session caps. Every request leaves one JSON access-log line."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: TokenMap,
        limiter: RateLimiter | None,
        hosts: Iterable[str] | None,
        origins: Iterable[str],
        oauth: Introspector | None = None,
        auth_limiter: RateLimiter | None = None,
        proxies: TrustedProxies | None = None,
        sessions: SessionCaps | None = None,
        max_body: int = 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = AuthContextMiddleware(app)  # publishes scope["user"] to the SDK's get_access_token()
        self.tokens, self.limiter, self.oauth = tokens, limiter, oauth
        self.auth_limiter, self.proxies, self.sessions = auth_limiter, proxies or TrustedProxies(), sessions
        self.max_body, self.clock = max_body, clock
        self.open_paths = PROBES | set(oauth.config.metadata_paths if oauth else ())
        self.hosts = tuple(hosts) if hosts is not None else None  # None: any Host (no known public name)
        self.origins = tuple(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, principal = time.perf_counter(), [0], None
        reset = None
        slot: list[Callable[[str | None], None]] = []  # a reserved session slot, settled by the answer

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                if slot:
                    slot.pop()(session_id(message) if status[0] < 400 else None)
            await send(message)

        headers = Headers(scope=scope)
        client = self.proxies.client(scope, headers)
        try:
            if scope["path"] in self.open_paths:
                return await self.app(scope, receive, send_status)
            refusal = self._refuse_host_origin(headers)
            if refusal is None and (self.tokens or self.oauth):
                entry = await self._authenticate(headers, client)
                if isinstance(entry, Response):
                    refusal = entry
                else:
                    principal = entry.principal
                    scope["user"] = AuthenticatedUser(
                        AccessToken(token=principal, client_id=principal, scopes=list(entry.scopes))
                    )
                    scope["auth"] = AuthCredentials([])
                    reset = current_credentials.set(entry.credentials)
            if refusal is None and self.limiter is not None and scope.get("method") == "POST":
                calls, receive = await self._tool_calls(headers, receive)
                if calls and (wait := self.limiter.take(principal or client, self.clock(), calls)):
                    refusal = error_response(
                        429,
                        "rate_limited",
                        "Too many tool calls for this token; retry later.",
                        retry_after(wait),
                    )
            if refusal is None and self.sessions is not None and opens_session(scope, headers):
                refusal = self.sessions.admit(principal)
                if refusal is None and principal is not None:
                    slot.append(functools.partial(self.sessions.opened, principal))
            if refusal is not None:
                return await refusal(scope, receive, send_status)
            await self.app(scope, receive, send_status)
        finally:
            if slot:  # no answer was sent: no session
                slot.pop()(None)
            if reset is not None:
                current_credentials.reset(reset)
            self._log(scope, headers, status[0], principal, started, client)

    async def _tool_calls(self, headers: Headers, receive: Receive) -> tuple[int, Receive]:
        """How many tool calls this POST makes. 2026-07-28: its Mcp-Method header (the SDK refuses a
        header that differs from the body). 2025-11-25: the body, read here (up to the body limit)
        and replayed to the SDK."""
        if not legacy(headers):
            return int(headers.get("mcp-method") == "tools/call"), receive
        body, receive = await _peek_body(receive, self.max_body)
        return (count_tool_calls(body) if body is not None else 0), receive

    def _refuse_host_origin(self, headers: Headers) -> Response | None:
        if self.hosts is not None and not allowed(headers.get("host", ""), self.hosts):
            return error_response(421, "misdirected_request", "Host not allowed (see --allowed-hosts).")
        origin = headers.get("origin")
        if origin and not allowed(origin, self.origins):
            return error_response(403, "forbidden_origin", "Origin not allowed (see --allowed-origins).")
        return None

    async def _authenticate(self, headers: Headers, client: str) -> TokenEntry | Grant | Response:
        """The caller, or the refusal. An address with too many failed attempts is refused first,
        before its token is hashed or sent anywhere; each 401 spends one of its attempts."""
        if self.auth_limiter is not None and (wait := self.auth_limiter.wait(client, self.clock())):
            return error_response(
                429,
                "too_many_failed_authentications",
                "Too many failed authentications from this address; retry later.",
                retry_after(wait),
            )
        outcome = await self._check_token(headers, client)
        if self.auth_limiter is not None and isinstance(outcome, Response) and outcome.status_code == 401:
            self.auth_limiter.take(client, self.clock())
        return outcome

    async def _check_token(self, headers: Headers, client: str) -> TokenEntry | Grant | Response:
        raw = headers.get("authorization", "")
        scheme, _, token = raw.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        entry = self.tokens.match(token) if token else None
        if entry is not None:
            return entry
        if token and self.oauth is not None:
            if (grant := self.oauth.cached(token)) is not None:
                return grant
            # Each unknown token costs a round trip to the authorization server: limit them per address,
            # so a flood of made-up tokens is refused here instead of forwarded.
            if self.limiter is not None and (wait := self.limiter.take(f"introspect:{client}", self.clock())):
                return error_response(
                    429,
                    "rate_limited",
                    "Too many new tokens from this address; retry later.",
                    retry_after(wait),
                )
            outcome = await self.oauth.check(token)
            if isinstance(outcome, Grant):
                return outcome
            extra = {"Retry-After": "5"} if outcome.status == 503 else {}
            if outcome.error in ("invalid_token", "insufficient_scope"):  # RFC 6750: signing in again helps
                extra["WWW-Authenticate"] = self.oauth.config.challenge(outcome.error)
            return error_response(outcome.status, outcome.error, outcome.description, extra)
        error = "invalid_token" if raw else None
        if self.oauth is not None:
            challenge = self.oauth.config.challenge(error)
        else:
            challenge = 'Bearer realm="gigstack-mcp"' + (f', error="{error}"' if error else "")
        return error_response(
            401,
            error or "unauthorized",
            "A valid bearer token is required (Authorization: Bearer <token>).",
            {"WWW-Authenticate": challenge},
        )

    @staticmethod
    def _log(
        scope: Scope, headers: Headers, status: int, principal: str | None, started: float, client: str
    ) -> None:
        level = logging.WARNING if status >= 500 or status == 0 else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "event": "http_request",
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "client": client,
        }
        if principal:
            fields["principal"] = principal
        for name, key in (("mcp-method", "mcp_method"), ("mcp-name", "mcp_name")):
            if value := headers.get(name):
                fields[key] = value[:100]
        if session := headers.get("mcp-session-id"):
            fields["session"] = session[:8]
        access_log.log(
            level, "%s %s %s", scope.get("method"), scope.get("path"), status, extra={"fields": fields}
        )
