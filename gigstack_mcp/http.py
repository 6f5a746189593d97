"""Streamable HTTP transport (`--transport http`): the SDK's MCP endpoint at `/mcp` behind bearer tokens
(each mapped server-side to its own gigstack API key and team), Host/Origin checks, body-size and
per-token rate limits, JSON-lines logs with every secret redacted, `/healthz` + `/readyz` probes and a
graceful shutdown that lets in-flight calls finish. `--stateless` keeps no per-session state, so N
replicas behind any load balancer act as one (share GIGSTACK_CONFIRM_SECRET)."""

from __future__ import annotations

import datetime as dt
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
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import AppState, Credentials, current_credentials
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
    """The accepted MCP bearer tokens. An entry is `token`, `token=api_key` or `token=api_key:team`
    (`token=:team` keeps the server's own key with another team)."""

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
        key, team = key.strip(), team.strip()
        return token, Credentials(api_key=SecretStr(key) if key else None, team=team or None)

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

    def take(self, key: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = time.monotonic() if now is None else now
        level, stamp = self._buckets.pop(key, (self.burst, now))
        level = min(self.burst, level + (now - stamp) * self.rate)
        wait = 0.0 if level >= 1 else (1 - level) / self.rate
        self._buckets[key] = (level - 1 if wait == 0 else level, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


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
    handler.addFilter(RedactSecrets(secrets))
    return handler


def all_secrets(settings: Settings, tokens: TokenMap) -> list[str]:
    # a Redis URL may hold a password
    configured = (settings.api_key, settings.confirm_secret, settings.mcp_redis_url)
    values = [s.get_secret_value() for s in configured if s is not None]
    try:
        oauth = OAuthConfig.from_settings(settings)
    except OAuthConfigError:
        oauth = None
    return values + tokens.secrets + (oauth.secrets if oauth else [])


# -- the gate in front of /mcp -----------------------------------------------------------------------


def _error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status, headers=headers)


class Gate:
    """Pure ASGI middleware in front of the MCP endpoint, in this order: probes pass untouched; then
    Host (421) and Origin (403) checks; bearer token (401 + WWW-Authenticate), a static MCP token or an
    OAuth access token checked with the authorization server, which sets the caller's gigstack
    credentials for the tools and an SDK principal (session ownership, request-state binding); the
    caller's rate limit (429 + Retry-After). Every request leaves one JSON access-log line."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: TokenMap,
        limiter: RateLimiter | None,
        hosts: Iterable[str] | None,
        origins: Iterable[str],
        oauth: Introspector | None = None,
    ) -> None:
        self.app = AuthContextMiddleware(app)  # publishes scope["user"] to the SDK's get_access_token()
        self.tokens, self.limiter, self.oauth = tokens, limiter, oauth
        self.open_paths = PROBES | set(oauth.config.metadata_paths if oauth else ())
        self.hosts = tuple(hosts) if hosts is not None else None  # None: any Host (no known public name)
        self.origins = tuple(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, principal = time.perf_counter(), [0], None
        reset = None

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        headers = Headers(scope=scope)
        try:
            if scope["path"] in self.open_paths:
                return await self.app(scope, receive, send_status)
            refusal = self._refuse_host_origin(headers)
            if refusal is None and (self.tokens or self.oauth):
                entry = await self._authenticate(headers, (scope.get("client") or ("?",))[0])
                if isinstance(entry, Response):
                    refusal = entry
                else:
                    principal = entry.principal
                    scope["user"] = AuthenticatedUser(
                        AccessToken(token=principal, client_id=principal, scopes=list(entry.scopes))
                    )
                    scope["auth"] = AuthCredentials([])
                    reset = current_credentials.set(entry.credentials)
            if refusal is None and self.limiter is not None:
                key = principal or (scope.get("client") or ("?",))[0]
                wait = self.limiter.take(key)
                if wait:
                    refusal = _error(
                        429,
                        "rate_limited",
                        "Too many requests for this token; retry later.",
                        {"Retry-After": str(max(1, math.ceil(wait)))},
                    )
            if refusal is not None:
                return await refusal(scope, receive, send_status)
            await self.app(scope, receive, send_status)
        finally:
            if reset is not None:
                current_credentials.reset(reset)
            self._log(scope, headers, status[0], principal, started)

    def _refuse_host_origin(self, headers: Headers) -> Response | None:
        if self.hosts is not None and not _allowed(headers.get("host", ""), self.hosts):
            return _error(421, "misdirected_request", "Host not allowed (see --allowed-hosts).")
        origin = headers.get("origin")
        if origin and not _allowed(origin, self.origins):
            return _error(403, "forbidden_origin", "Origin not allowed (see --allowed-origins).")
        return None

    async def _authenticate(self, headers: Headers, client: str) -> TokenEntry | Grant | Response:
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
            if self.limiter is not None and (wait := self.limiter.take(f"introspect:{client}")):
                return _error(
                    429,
                    "rate_limited",
                    "Too many new tokens from this address; retry later.",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
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
    def _log(scope: Scope, headers: Headers, status: int, principal: str | None, started: float) -> None:
        level = logging.WARNING if status >= 500 or status == 0 else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "event": "http_request",
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "client": (scope.get("client") or ("?",))[0],
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
) -> Starlette:
    """The ASGI app: `/mcp` (Streamable HTTP, both protocol eras), `/healthz`, `/readyz`, and with OAuth
    the protected-resource metadata. Builds a fresh MCPServer unless one is given (the SDK's session
    manager runs once per server). Limits, allowed hosts/origins and OAuth come from `settings`
    (GIGSTACK_MCP_*), tokens too unless given."""
    from .server import build_server

    tokens = TokenMap.from_settings(settings) if tokens is None else tokens
    stateless = settings.mcp_stateless if stateless is None else stateless
    rate = RateLimit.parse(settings.mcp_rate_limit)
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
        # Host/Origin are checked by the Gate (before auth, with --allowed-hosts/--allowed-origins).
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=host,
    )
    _capture_state(server, ref, oauth)
    app.add_middleware(
        Gate,
        tokens=tokens,
        limiter=RateLimiter(rate) if rate else None,
        hosts=hosts,
        origins=origins,
        oauth=oauth,
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
