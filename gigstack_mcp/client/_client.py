"""The one async gigstack client: pooled httpx, auth, `?team=`, retries, idempotency, pagination."""

from __future__ import annotations

import datetime as dt
import email.utils
import json as jsonlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import stamina
from pydantic import SecretStr

from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    GigstackError,
    error_class,
    parse_error_body,
)

log = logging.getLogger("gigstack_mcp.client")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Endpoints whose request body documents an `idempotency_key` field (gigstack-api.md §1).
BODY_IDEMPOTENCY_PATHS = frozenset(
    {"/payments/register", "/payments/request", "/invoices/income", "/invoices/egress", "/receipts"}
)
MAX_RETRY_AFTER = 60.0
# Paths are built from ids the caller gave (f"/clients/{id}"). One that would not address exactly that
# object is never sent: a "." or ".." segment (normalized away: "../services" leaves /clients), "?" or
# "#" (would cut the id short), "%" (decoded by the server into the above), "\\", spaces or control
# characters.
_UNSAFE_PATH = re.compile(r"[?#%\\\x00-\x20\x7f]|(?:^|/)\.{1,2}(?:/|$)")


def new_idempotency_key() -> str:
    return f"gsmcp-{uuid.uuid4().hex}"


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying; carries the error to raise if retries run out."""

    def __init__(self, error: GigstackError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class ShardedTransport(httpx.AsyncBaseTransport):
    """A few small connection pools instead of one big one; each request goes to the least busy.

    httpcore's pool walks every connection it holds on each request and each response, polling every
    idle socket: with 50 calls in flight through one pool, that walk was a third of the HTTP server's
    CPU per call (docs/benchmarks.md, "HTTP transport"). Sequential calls all use the first pool, so
    they keep reusing one connection (one TLS handshake with the real API, not one per pool).
    """

    def __init__(self, shards: int = 8, connections_per_shard: int = 16) -> None:
        limits = httpx.Limits(
            max_connections=connections_per_shard, max_keepalive_connections=connections_per_shard
        )
        tls = httpx.create_ssl_context()  # one CA bundle load (~20 ms), not one per pool
        self._pools = [httpx.AsyncHTTPTransport(verify=tls, limits=limits) for _ in range(shards)]
        self._busy = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        shard = min(range(len(self._pools)), key=self._busy.__getitem__)
        self._busy[shard] += 1
        try:
            return await self._pools[shard].handle_async_request(request)
        finally:
            self._busy[shard] -= 1

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class GigstackClient:
    """Async client for gigstack API v2.

    Returns the decoded JSON envelope (`{message, data, ...}`); raises `GigstackError` subclasses.
    The API key is kept in a `SecretStr` and only ever placed in the Authorization header.
    """

    def __init__(
        self,
        api_key: SecretStr | str,
        api_url: str,
        *,
        team: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 4,
        retry_wait_initial: float = 0.25,
        retry_wait_max: float = 8.0,
        retry_timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.api_url = api_url.rstrip("/")
        self.team = team
        self.max_retries = max_retries
        self._wait_initial = retry_wait_initial
        self._wait_max = retry_wait_max
        self._retry_timeout = retry_timeout
        self._http = httpx.AsyncClient(
            base_url=self.api_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"Accept": "application/json", "User-Agent": "gigstack-mcp"},
            transport=transport or ShardedTransport(),
        )

    def __repr__(self) -> str:
        return f"GigstackClient(api_url={self.api_url!r}, team={self.team!r}, api_key='**********')"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> GigstackClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests ---------------------------------------------------------------------------------

    async def get(self, path: str, *, query: Mapping[str, Any] | None = None, team: str | None = None) -> Any:
        return await self.request("GET", path, query=query, team=team)

    async def post(self, path: str, *, json: Any = None, team: str | None = None, **kw: Any) -> Any:
        return await self.request("POST", path, json=json, team=team, **kw)

    async def put(self, path: str, *, json: Any = None, team: str | None = None) -> Any:
        return await self.request("PUT", path, json=json, team=team)

    async def delete(self, path: str, *, json: Any = None, team: str | None = None) -> Any:
        return await self.request("DELETE", path, json=json, team=team)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        team: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One logical call. GET/PUT/DELETE are retried; a POST is retried because it always carries an
        idempotency key (made here once and reused on every attempt, or the caller's own)."""
        method = method.upper()
        if _UNSAFE_PATH.search(path):
            raise GigstackError(
                f"Not sent: {method} {path[:120]!r} would not address one gigstack object (an id "
                "contains ?, #, %, \\, a space or control character, or is . or ..). Use the id exactly "
                "as a list/get tool returned it",
                method=method,
                path=path,
            )
        params = {k: v for k, v in (query or {}).items() if v is not None}
        team = team or self.team
        if team:
            params["team"] = team
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}
        if method == "POST":
            idempotency_key = idempotency_key or new_idempotency_key()
            headers["Idempotency-Key"] = idempotency_key
            if path in BODY_IDEMPOTENCY_PATHS and isinstance(json, dict):
                json = {**json, "idempotency_key": json.get("idempotency_key") or idempotency_key}
        try:
            content = None if json is None else jsonlib.dumps(json, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") has no UTF-8 form
            raise GigstackError(
                "Not sent: the arguments contain text that is not valid Unicode (a lone surrogate); "
                "remove it",
                method=method,
                path=path,
            ) from None
        if content is not None:
            headers["Content-Type"] = "application/json"

        attempts = self.max_retries + 1
        last: _Retryable | None = None
        try:
            async for attempt in stamina.retry_context(
                on=self._backoff,
                attempts=attempts,
                timeout=self._retry_timeout,
                wait_initial=self._wait_initial,
                wait_max=self._wait_max,
                wait_jitter=self._wait_initial,
            ):
                with attempt:
                    try:
                        return await self._send(method, path, params, headers, content, attempt.num)
                    except _Retryable as exc:
                        last = exc
                        raise
        except _Retryable as exc:
            err = exc.error
            # Retries ran out: a write that reached gigstack may have been applied.
            if method != "GET" and not (isinstance(err, APIStatusError) and err.status_code == 429):
                err.outcome = "unknown"
            err.attempts = attempts  # type: ignore[attr-defined]
            raise err from None
        raise AssertionError(f"unreachable: {last}")  # pragma: no cover

    def _backoff(self, exc: Exception) -> bool | float:
        if not isinstance(exc, _Retryable):
            return False
        if exc.wait is not None:
            return min(exc.wait, MAX_RETRY_AFTER)
        return True

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        headers: dict[str, str],
        content: bytes | None,
        attempt: int,
    ) -> Any:
        start = time.perf_counter()
        try:
            response = await self._http.request(method, path, params=params, headers=headers, content=content)
        except (httpx.InvalidURL, UnicodeEncodeError) as exc:  # an argument too long, or not Unicode
            why = "not valid Unicode" if isinstance(exc, UnicodeEncodeError) else str(exc)
            shown = ascii(path[:60])
            raise GigstackError(
                f"Not sent: the URL for {method} {shown} is invalid ({why}); shorten or correct the "
                "arguments",
                method=method,
                path=path,
            ) from None
        except httpx.TimeoutException:
            log.warning("gigstack %s %s timed out (attempt %d)", method, path, attempt)
            raise _Retryable(
                APITimeoutError(f"gigstack timed out on {method} {path}", method=method, path=path)
            ) from None
        except httpx.TransportError as exc:
            log.warning("gigstack %s %s failed: %s (attempt %d)", method, path, type(exc).__name__, attempt)
            raise _Retryable(
                APIConnectionError(
                    f"could not reach gigstack on {method} {path} ({type(exc).__name__})",
                    method=method,
                    path=path,
                )
            ) from None
        elapsed = (time.perf_counter() - start) * 1000
        log.info(
            "gigstack %s %s -> %d in %.0f ms (attempt %d)",
            method,
            path,
            response.status_code,
            elapsed,
            attempt,
        )
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = None
        if response.status_code >= 400:
            message, error, code, details = parse_error_body(body, response.status_code)
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            err = error_class(response.status_code)(
                response.status_code,
                message,
                error=error,
                code=code,
                details=details,
                method=method,
                path=path,
                retry_after=retry_after,
            )
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(err, wait=retry_after)
            raise err
        if body is None:
            raise _Retryable(
                APIConnectionError(
                    f"gigstack sent a malformed answer on {method} {path}", method=method, path=path
                )
            )
        return body

    # -- pagination -------------------------------------------------------------------------------

    async def paginate(
        self,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        team: str | None = None,
        page_size: int = 100,
        max_items: int = 1000,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield items across pages (`limit` + `next` cursor), stopping after `max_items`."""
        seen = 0
        cursor: str | None = None
        while True:
            q = dict(query or {})
            q["limit"] = min(page_size, 100)
            if cursor:
                q["next"] = cursor
            page = await self.get(path, query=q, team=team)
            for item in page.get("data") or []:
                if seen >= max_items:
                    return
                seen += 1
                yield item
            cursor = page.get("next")
            if not (page.get("has_more") and cursor):
                return
