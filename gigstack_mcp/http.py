"""Streamable HTTP transport (`--transport http`): the SDK's MCP endpoint at `/mcp` behind bearer tokens
(each mapped server-side to its own gigstack API key and team), Host/Origin checks, body-size and
per-token rate limits, JSON-lines logs with every secret redacted, `/healthz` + `/readyz` probes and a
graceful shutdown that lets in-flight calls finish. `--stateless` keeps no per-session state, so N
replicas behind any load balancer act as one (share GIGSTACK_CONFIRM_SECRET)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import re
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import uvicorn
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import SANDBOX_KEY, AppState, Credentials, current_credentials
from .oauth import Grant, Introspector, OAuthConfig, OAuthConfigError
from .settings import Settings

log = logging.getLogger("gigstack_mcp.http")
access_log = logging.getLogger("gigstack_mcp.http.access")

MIN_TOKEN_LENGTH = 16
PROBES = frozenset({"/healthz", "/readyz"})
READY_TIMEOUT = 5.0  # seconds a readiness check may take
READY_CACHE = 2.0  # seconds a readiness answer is reused (the probe is unauthenticated)
LOOPBACK_HOSTS = ("127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
LOOPBACK_ORIGINS += tuple(o[:-2] for o in LOOPBACK_ORIGINS)


class HttpConfigError(ValueError):
    """A bad HTTP transport setting: start-up stops with this message (exit 2)."""


# -- bearer tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenEntry:
    """One accepted MCP token: its SHA-256 (compared in constant time), a principal that is safe to log
    and identical on every replica, and the gigstack credentials it maps to."""

    digest: bytes = field(repr=False)
    principal: str
    credentials: Credentials
    scopes: tuple[str, ...] = ()


class TokenMap:
    """The accepted MCP bearer tokens. An entry is `token`, `token=api_key` or `token=api_key:teams`
    (`token=:teams` keeps the server's own key). `teams` pins the token: `team_a`, or `team_a|team_b`
    (the first is the default), `|*` (or `*`) to allow any team (docs/http.md)."""

    def __init__(self, entries: Iterable[tuple[str, Credentials]] = ()) -> None:
        self.entries: list[TokenEntry] = []
        self._secrets: list[str] = []
        for token, creds in entries:
            digest = hashlib.sha256(token.encode()).digest()
            if any(hmac.compare_digest(digest, e.digest) for e in self.entries):
                raise HttpConfigError("the same MCP token is configured twice")
            principal = "tok_" + hashlib.sha256(b"gigstack-mcp:" + token.encode()).hexdigest()[:10]
            self.entries.append(TokenEntry(digest, principal, creds))
            self._secrets.append(token)
            if creds.api_key is not None:
                self._secrets.append(creds.api_key.get_secret_value())

    @staticmethod
    def parse(entry: str, where: str = "token") -> tuple[str, Credentials]:
        token, sep, rest = entry.strip().partition("=")
        token = token.strip()
        if len(token) < MIN_TOKEN_LENGTH or re.search(r"[\s,:]", token):
            raise HttpConfigError(
                f"{where}: an MCP token must be at least {MIN_TOKEN_LENGTH} characters without spaces, "
                "commas or colons (make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        key, _, team = rest.partition(":")
        return token, Credentials.mapped(key.strip(), team)

    @classmethod
    def load(cls, tokens: Iterable[str] = (), file: str | None = None) -> TokenMap:
        items = [cls.parse(t) for t in tokens if t.strip()]
        if file:
            try:
                lines = Path(file).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise HttpConfigError(f"cannot read the tokens file {file}: {exc.strerror}") from None
            for n, line in enumerate(lines, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    items.append(cls.parse(line, f"{file} line {n}"))
        return cls(items)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenMap:
        raw = settings.mcp_auth_tokens.get_secret_value() if settings.mcp_auth_tokens else ""
        return cls.load(raw.split(","), settings.mcp_auth_tokens_file)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, presented: str) -> TokenEntry | None:
        """The entry for this token, comparing against every configured token (no early exit)."""
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry
        return found

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)


# -- limits ------------------------------------------------------------------------------------------

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RateLimit:
    """`count` requests per `per` seconds, in bursts of up to `count`."""

    count: float
    per: float

    @classmethod
    def parse(cls, text: str | None) -> RateLimit | None:
        text = (text or "").strip().lower()
        if text in {"", "0", "off", "none"}:
            return None
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*/\s*([a-z]+)", text)
        if not m or m[2] not in _UNITS or float(m[1]) <= 0:
            raise HttpConfigError(f"bad rate limit {text!r}: use N/s, N/m, N/h or 'off'")
        return cls(float(m[1]), _UNITS[m[2]])


class RateLimiter:
    """Token buckets per caller (MCP token, or client address without auth), bounded in number."""

    def __init__(self, limit: RateLimit, max_keys: int = 10_000) -> None:
        self.rate, self.burst, self.max_keys = limit.count / limit.per, limit.count, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None, cost: float = 1) -> float:
        """0 when the request (worth `cost` units) may go ahead, else the seconds until it could."""
        now = time.monotonic() if now is None else now
        level, stamp = self._buckets.pop(key, (self.burst, now))
        level = min(self.burst, level + (now - stamp) * self.rate)
        wait = 0.0 if level >= cost else (cost - level) / self.rate
        self._buckets[key] = (level - cost if wait == 0 else level, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def wait(self, key: str, now: float | None = None) -> float:
        """Like `take` without spending: 0 while a unit is left, else the seconds until one is."""
        hit = self._buckets.get(key)
        if hit is None:
            return 0.0
        now = time.monotonic() if now is None else now
        level = min(self.burst, hit[0] + (now - hit[1]) * self.rate)
        return 0.0 if level >= 1 else (1 - level) / self.rate


def _retry_after(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}


class TrustedProxies:
    """Whose `X-Forwarded-For` is believed: only peers inside these networks (none by default). The
    client is then the right-most address that is not itself a trusted proxy: the left part of the
    header is whatever the client wrote."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for net in networks:
            try:
                self.networks.append(ipaddress.ip_network(net.strip(), strict=False))
            except ValueError:
                raise HttpConfigError(
                    f"bad trusted proxy {net.strip()!r}: use addresses or CIDRs, e.g. 10.0.0.0/8,127.0.0.1"
                ) from None

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client(self, scope: Scope, headers: Headers) -> str:
        peer = str((scope.get("client") or ("?",))[0])
        if not self.networks or not self.trusted(peer):
            return peer
        hops = [h.strip() for v in headers.getlist("x-forwarded-for") for h in v.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusted(hop):
                return hop[:64]
        return hops[0][:64] if hops else peer


def parse_size(text: str | int) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib)?", str(text).strip().lower())
    if not m or float(m[1]) <= 0:
        raise HttpConfigError(f"bad size {text!r}: use bytes, KB or MB (e.g. 1MB)")
    scale = {"k": 1024, "m": 1024 * 1024}.get((m[2] or "b")[0], 1)
    return int(float(m[1]) * scale)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _allowed(value: str, patterns: Iterable[str]) -> bool:
    """Exact match, or `base:*` for any port (the SDK's transport-security semantics)."""
    return any(value == p or (p.endswith(":*") and value.startswith(p[:-1])) for p in patterns)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- logging -----------------------------------------------------------------------------------------


class RedactSecrets(logging.Filter):
    """Replaces every configured secret (MCP tokens, gigstack API keys, the confirm secret) in a
    record's message, arguments, structured fields and traceback. Attach it to the handler."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


_SESSION_HEX = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{24}\b")  # the SDK's session ids (uuid4 hex)
_SESSION_AFTER = re.compile(r"(?i)(\bsession(?: id)?:?\s+)([^\s:,]{8})[^\s:,]+")  # any id a client sent
# Below WARNING these log whole event-stream chunks (tool results) and gigstack URLs with their query
# (a search for a customer's name).
_CHATTY = ("sse_starlette", "httpx", "httpcore")
_TOOL_FAILED = "Tool %r failed: %r"  # the SDK's INFO line for a tool error, with the error's whole text


class LogHygiene(logging.Filter):
    """What the SDK and its libraries log through our handler, made safe: session ids cut to their first 8
    characters (like the access log), a tool error's text left out (it quotes gigstack data), and the
    INFO/DEBUG records of sse_starlette, httpx and httpcore dropped (event-stream chunks are whole tool
    results; request lines carry search queries). Attach it to the handler before RedactSecrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.name or "").startswith(_CHATTY) and record.levelno < logging.WARNING:
            return False
        if record.msg == _TOOL_FAILED and isinstance(record.args, tuple) and record.args:
            record.msg, record.args = (
                "Tool %r failed (its error text went to the client, not to the log)",
                (record.args[0],),
            )
        record.msg, record.args = _cut_session_ids(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _cut_session_ids(record.exc_text)
        return True


def _cut_session_ids(text: str) -> str:
    return _SESSION_AFTER.sub(r"\1\2…", _SESSION_HEX.sub(r"\1…", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the record's `fields`, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def json_log_handler(secrets: Iterable[str], stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogHygiene())
    handler.addFilter(RedactSecrets(secrets))
    return handler


def all_secrets(settings: Settings, tokens: TokenMap) -> list[str]:
    # a Redis URL may hold a password
    configured = (settings.api_key, settings.confirm_secret, settings.mcp_redis_url)
    values = [s.get_secret_value() for s in configured if s is not None]
    values.append(SANDBOX_KEY)  # the embedded sandbox's random key
    try:
        oauth = OAuthConfig.from_settings(settings)
    except OAuthConfigError:
        oauth = None
    return values + tokens.secrets + (oauth.secrets if oauth else [])


# -- the gate in front of /mcp -----------------------------------------------------------------------


def _error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status, headers=headers)


class SessionCaps:
    """Open stateful sessions per principal and in all (2025-11-25 era; stateless mode and the
    2026-07-28 era have none). A principal's sessions are the ids its opening requests got back, still
    open in the SDK's session manager; a request that is opening one counts until it is answered, so
    parallel opens cannot overshoot. The cap in all is the SDK's own (`max_sessions`), checked here
    first to answer with a clear message."""

    def __init__(self, manager: Any, per_principal: int | None, total: int | None) -> None:
        self.manager, self.per_principal, self.total = manager, per_principal, total
        self._opened: dict[str, set[str]] = {}
        self._pending: dict[str, int] = {}

    def _live(self) -> dict[str, Any]:
        # The SDK keeps open sessions in a private attribute (streamable_http_manager.py);
        # tests/test_tenants.py fails if that changes.
        return self.manager._server_instances

    def admit(self, principal: str | None) -> Response | None:
        """A refusal, or None; when it returns None for a principal, call `opened` once answered."""
        live = self._live()
        if self.total is not None and len(live) >= self.total:
            return _error(
                503,
                "too_many_sessions",
                f"The server has its limit of {self.total} open sessions; retry shortly.",
                {"Retry-After": "30"},
            )
        if principal is None or self.per_principal is None:
            return None
        mine = self._opened.setdefault(principal, set())
        mine.intersection_update(live)  # forget sessions that ended (DELETE, idle expiry)
        if len(mine) + self._pending.get(principal, 0) >= self.per_principal:
            return _error(
                429,
                "too_many_sessions",
                f"This token has its limit of {self.per_principal} open sessions: end sessions you no "
                "longer use (HTTP DELETE) or wait for idle ones to expire (30 min).",
                {"Retry-After": "60"},
            )
        self._pending[principal] = self._pending.get(principal, 0) + 1
        return None

    def opened(self, principal: str, session_id: str | None) -> None:
        """The opening request was answered, with this session id (None: no session)."""
        left = self._pending.get(principal, 0) - 1
        if left > 0:
            self._pending[principal] = left
        else:
            self._pending.pop(principal, None)
        if session_id:
            self._opened.setdefault(principal, set()).add(session_id)
        elif not self._opened.get(principal):
            self._opened.pop(principal, None)


def _legacy(headers: Headers) -> bool:
    """A 2025-11-25 (handshake) era request: sessions, and no Mcp-Method header the SDK checks."""
    version = headers.get("mcp-protocol-version")
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS


def _opens_session(scope: Scope, headers: Headers) -> bool:
    """A 2025-11-25 POST without a session id: the SDK opens a session for it (kept if answered < 400)."""
    return scope.get("method") == "POST" and "mcp-session-id" not in headers and _legacy(headers)


def _session_id(start: Message) -> str | None:
    return next((v.decode("latin-1") for k, v in start.get("headers", ()) if k == b"mcp-session-id"), None)


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
                    slot.pop()(_session_id(message) if status[0] < 400 else None)
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
                    refusal = _error(
                        429,
                        "rate_limited",
                        "Too many tool calls for this token; retry later.",
                        _retry_after(wait),
                    )
            if refusal is None and self.sessions is not None and _opens_session(scope, headers):
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
        if not _legacy(headers):
            return int(headers.get("mcp-method") == "tools/call"), receive
        body, receive = await _peek_body(receive, self.max_body)
        return (count_tool_calls(body) if body is not None else 0), receive

    def _refuse_host_origin(self, headers: Headers) -> Response | None:
        if self.hosts is not None and not _allowed(headers.get("host", ""), self.hosts):
            return _error(421, "misdirected_request", "Host not allowed (see --allowed-hosts).")
        origin = headers.get("origin")
        if origin and not _allowed(origin, self.origins):
            return _error(403, "forbidden_origin", "Origin not allowed (see --allowed-origins).")
        return None

    async def _authenticate(self, headers: Headers, client: str) -> TokenEntry | Grant | Response:
        """The caller, or the refusal. An address with too many failed attempts is refused first,
        before its token is hashed or sent anywhere; each 401 spends one of its attempts."""
        if self.auth_limiter is not None and (wait := self.auth_limiter.wait(client, self.clock())):
            return _error(
                429,
                "too_many_failed_authentications",
                "Too many failed authentications from this address; retry later.",
                _retry_after(wait),
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
                return _error(
                    429,
                    "rate_limited",
                    "Too many new tokens from this address; retry later.",
                    _retry_after(wait),
                )
            outcome = await self.oauth.check(token)
            if isinstance(outcome, Grant):
                return outcome
            extra = {"Retry-After": "5"} if outcome.status == 503 else {}
            if outcome.error in ("invalid_token", "insufficient_scope"):  # RFC 6750: signing in again helps
                extra["WWW-Authenticate"] = self.oauth.config.challenge(outcome.error)
            return _error(outcome.status, outcome.error, outcome.description, extra)
        error = "invalid_token" if raw else None
        if self.oauth is not None:
            challenge = self.oauth.config.challenge(error)
        else:
            challenge = 'Bearer realm="gigstack-mcp"' + (f', error="{error}"' if error else "")
        return _error(
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


# -- the app -----------------------------------------------------------------------------------------


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
    from .server import build_server

    tokens = TokenMap.from_settings(settings) if tokens is None else tokens
    stateless = settings.mcp_stateless if stateless is None else stateless
    rate = RateLimit.parse(settings.mcp_rate_limit)
    auth_rate = RateLimit.parse(settings.mcp_auth_fail_limit)
    proxies = TrustedProxies(_names(settings.mcp_trusted_proxies))
    max_body = parse_size(settings.mcp_max_body)
    extra_hosts, extra_origins = _names(settings.mcp_allowed_hosts), _names(settings.mcp_allowed_origins)
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


# -- running -----------------------------------------------------------------------------------------


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
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, settings, self.host, self.port))
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundServer:
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, name="gigstack-mcp-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.005)
        return self

    def shutdown(self) -> None:
        """What SIGTERM does: stop accepting, let in-flight requests finish, then run the lifespan exit."""
        self.server.should_exit = True

    def join(self, timeout: float | None = None) -> bool:
        if self._thread:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stop(self) -> None:
        self.shutdown()
        self.join(timeout=15)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
