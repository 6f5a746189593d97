"""The one async gigstack client: pooled httpx, auth, `?team=`, retries, idempotency, pagination."""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import hashlib
import ipaddress
import json as jsonlib
import logging
import re
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

import httpx
import stamina
from pydantic import SecretStr

from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    DownloadError,
    GigstackError,
    ResponseRefused,
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
# Where gigstack serves invoice PDF/XML links (gigstack-api.md, "Get Invoice Files"). `*.` = subdomains.
DEFAULT_FILE_HOSTS = ("storage.gigstack.io",)
# Paths are built from ids the caller gave (f"/clients/{id}"). One that would not address exactly that
# object is never sent: a "." or ".." segment (normalized away: "../services" leaves /clients), "?" or
# "#" (would cut the id short), "%" (decoded by the server into the above), "\\", spaces or control
# characters.
_UNSAFE_PATH = re.compile(r"[?#%\\\x00-\x20\x7f]|(?:^|/)\.{1,2}(?:/|$)")


# The idempotency key of the last write this task sent (the audit trail records it with the call).
sent_idempotency_key: ContextVar[str | None] = ContextVar("gigstack_sent_idempotency_key", default=None)


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


def _mb(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def _too_deep(value: Any, limit: int) -> bool:
    """True when JSON containers nest deeper than `limit`. Level by level, without recursion (deep input
    cannot exhaust our stack); ~0.2 ms for a page of 100 invoices."""
    level, depth = [value], 1
    while level:
        if depth > limit:
            return True
        below = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:  # json.loads makes exactly these
                    below.append(child)
        level, depth = below, depth + 1
    return False


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying; carries the error to raise if retries run out.
    `sent`: the request may have reached gigstack (a timeout or 5xx, not a refused connection or 429)."""

    def __init__(self, error: GigstackError, wait: float | None = None, *, sent: bool = True) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait
        self.sent = sent


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """The process's one TLS context: loading the CA bundle costs ~25 ms of CPU, and a server builds a
    client per OAuth caller (the test suite one per test). An SSLContext is safe to share."""
    return httpx.create_ssl_context()


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
        self._pools = [httpx.AsyncHTTPTransport(verify=shared_tls(), limits=limits) for _ in range(shards)]
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
        max_response_bytes: int = 10_000_000,
        max_json_depth: int = 64,
        idempotency_window: float = 900.0,
        file_hosts: Iterable[str] = DEFAULT_FILE_HOSTS,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.api_url = api_url.rstrip("/")
        self.team = team
        self.max_retries = max_retries
        self._wait_initial = retry_wait_initial
        self._wait_max = retry_wait_max
        self._retry_timeout = retry_timeout
        self.max_response_bytes = max_response_bytes
        self.max_json_depth = max_json_depth
        self.idempotency_window = idempotency_window
        self._clock = clock
        # fingerprint of a POST whose outcome is unknown -> (the key it carried, when to forget it)
        self._unsettled: dict[str, tuple[str, float]] = {}
        self._file_hosts = [h.strip().lower() for h in file_hosts if h.strip()]
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
        fingerprint = None
        if method == "POST":
            if not idempotency_key:  # the same call repeated after an unknown outcome reuses its key
                fingerprint = self._fingerprint(path, team, json)
                idempotency_key = self._unsettled_key(fingerprint) or new_idempotency_key()
            headers["Idempotency-Key"] = idempotency_key
            sent_idempotency_key.set(idempotency_key)
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
        uncertain = False  # an earlier attempt may have reached gigstack
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
                        body = await self._send(method, path, params, headers, content, attempt.num)
                    except _Retryable as exc:
                        uncertain = uncertain or exc.sent
                        raise
        except _Retryable as exc:
            err = exc.error
            # Retries ran out: a write that reached gigstack may have been applied.
            if method != "GET" and not (isinstance(err, APIStatusError) and err.status_code == 429):
                err.outcome = "unknown"
            err.attempts = attempts  # type: ignore[attr-defined]
            self._settle(fingerprint, idempotency_key, err)
            raise err from None
        except GigstackError as err:
            err.after_uncertain = uncertain
            if isinstance(err, ResponseRefused):  # gigstack answered 2xx: a write was done or may be
                err.outcome = "unknown" if method != "GET" else "not_applied"
            self._settle(fingerprint, idempotency_key, err)
            raise
        self._settle(fingerprint, idempotency_key, None)
        return body

    # -- idempotency keys of unsettled writes ------------------------------------------------------

    @staticmethod
    def _fingerprint(path: str, team: str | None, json: Any) -> str:
        """The call's identity: path, team and exact body. The client is per API key, so the caller's
        key is part of it without being hashed or stored anywhere."""
        canonical = jsonlib.dumps([path, team, json], sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()

    def _unsettled_key(self, fingerprint: str) -> str | None:
        entry = self._unsettled.get(fingerprint)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def _settle(self, fingerprint: str | None, key: str | None, err: GigstackError | None) -> None:
        """Remember the key of a write whose outcome is unknown (for `idempotency_window` seconds), so
        the model calling again with the same arguments gets gigstack's replay of the first write, not
        a second one; forget it once a call settles (success, or a definite refusal)."""
        if err is not None and key is not None:
            err.idempotency_key = key
        if fingerprint is None:
            return
        now = self._clock()
        self._unsettled = {f: e for f, e in self._unsettled.items() if e[1] > now}
        if err is not None and err.outcome == "unknown" and key is not None:
            self._unsettled[fingerprint] = (key, now + self.idempotency_window)
        else:
            self._unsettled.pop(fingerprint, None)

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
            request = self._http.build_request(method, path, params=params, headers=headers, content=content)
            response = await self._http.send(request, stream=True)
            try:
                raw = await self._read_capped(response)
            finally:
                await response.aclose()
        except (httpx.InvalidURL, UnicodeEncodeError) as exc:  # an argument too long, or not Unicode
            why = "not valid Unicode" if isinstance(exc, UnicodeEncodeError) else str(exc)
            shown = ascii(path[:60])
            raise GigstackError(
                f"Not sent: the URL for {method} {shown} is invalid ({why}); shorten or correct the "
                "arguments",
                method=method,
                path=path,
            ) from None
        except httpx.TimeoutException as exc:
            log.warning("gigstack %s %s timed out (attempt %d)", method, path, attempt)
            raise _Retryable(
                APITimeoutError(f"gigstack timed out on {method} {path}", method=method, path=path),
                sent=not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout),
            ) from None
        except httpx.TransportError as exc:
            log.warning("gigstack %s %s failed: %s (attempt %d)", method, path, type(exc).__name__, attempt)
            raise _Retryable(
                APIConnectionError(
                    f"could not reach gigstack on {method} {path} ({type(exc).__name__})",
                    method=method,
                    path=path,
                ),
                sent=not isinstance(exc, httpx.ConnectError),
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
        body = self._decode(raw, response.status_code, method, path)
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
                raise _Retryable(err, wait=retry_after, sent=response.status_code != 429)
            raise err
        if body is None:
            raise _Retryable(
                APIConnectionError(
                    f"gigstack sent a malformed answer on {method} {path}", method=method, path=path
                )
            )
        if not isinstance(body, dict):
            raise ResponseRefused(
                f"gigstack's answer to {method} {path} is not the JSON object it answers with "
                f"(got a JSON {type(body).__name__})",
                method=method,
                path=path,
            )
        return body

    async def _read_capped(self, response: httpx.Response) -> bytes | None:
        """The answer's body, or None when it is over `max_response_bytes` (stops reading there)."""
        cap = self.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            return None
        data = bytearray()
        async for chunk in response.aiter_bytes():  # decoded bytes: a small gzip cannot expand past it
            data += chunk
            if len(data) > cap:
                return None
        return bytes(data)

    def _decode(self, raw: bytes | None, status: int, method: str, path: str) -> Any:
        """JSON of an answer: {} when empty, None when not JSON. An answer over the size or nesting
        limit is refused (an error status just loses its body: the status still says enough)."""
        refused = None
        if raw is None:
            refused = (
                f"gigstack's answer to {method} {path} is over the {_mb(self.max_response_bytes)} limit "
                "(GIGSTACK_MAX_RESPONSE_BYTES); it was not read"
            )
            body = None
        elif not raw:
            return {}
        else:
            try:
                body = jsonlib.loads(raw)
            except RecursionError:
                body, refused = None, "deep"
            except ValueError:
                return None
            if refused is None and isinstance(body, dict | list) and _too_deep(body, self.max_json_depth):
                refused = "deep"
        if refused == "deep":
            refused = (
                f"gigstack's answer to {method} {path} nests deeper than {self.max_json_depth} levels "
                "(GIGSTACK_MAX_JSON_DEPTH); it was not used"
            )
        if refused is None:
            return body
        log.warning("gigstack %s %s: answer refused (%s)", method, path, refused)
        if status >= 400:
            return {}
        raise ResponseRefused(refused, method=method, path=path)

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
            items = page.get("data")
            for item in items if isinstance(items, list) else []:
                if seen >= max_items:
                    return
                if not isinstance(item, dict):  # not a row: nothing a caller could read from it
                    continue
                seen += 1
                yield item
            cursor = page.get("next")
            if not (page.get("has_more") and cursor):
                return

    # -- file downloads ---------------------------------------------------------------------------

    def file_link_refusal(self, url: str) -> str | None:
        """Why a file link may not be fetched, or None. Allowed: https on a configured file host
        (`*.example.com` = its subdomains), an origin configured with its scheme (`http://host:port`),
        and the API's own origin (the embedded or configured sandbox serves its files there). Never a
        link with credentials, nor an IP address in a private, loopback or link-local range."""
        try:
            link = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return "it is not a valid URL"
        host = (link.host or "").lower()
        if not host or link.userinfo:
            return "it has no host, or carries credentials"
        api = httpx.URL(self.api_url)
        if (link.scheme, host, link.port) == (api.scheme, (api.host or "").lower(), api.port):
            return None
        origin = f"{link.scheme}://{host}" + (f":{link.port}" if link.port else "")
        if origin in self._file_hosts:
            return None
        if link.scheme != "https":
            return f"it is {link.scheme}, not https"
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            ip = None
        if ip is not None and not ip.is_global:
            return f"{host} is a private, loopback or reserved address"
        for allowed in self._file_hosts:
            if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
                return None
        return f"{host} is not one of gigstack's file hosts (GIGSTACK_FILE_HOSTS)"

    async def download(self, url: str, max_bytes: int) -> tuple[bytes, bool]:
        """Up to `max_bytes` of a file link, and whether the file was longer. Raises DownloadError for a
        link outside the allowed hosts, a redirect (never followed: it could lead anywhere, loopback
        included), an error status or a failed connection. The API key is never sent with it."""
        why = self.file_link_refusal(url)
        if why:
            raise DownloadError(f"not downloaded: {why}", method="GET", path=url[:200])
        data = bytearray()
        try:
            async with self._http.stream(
                "GET", url, headers={"Accept": "*/*"}, follow_redirects=False
            ) as response:
                if response.is_redirect:
                    target = httpx.URL(response.headers.get("location", "")).host or "elsewhere"
                    raise DownloadError(
                        f"not downloaded: the file link redirects (to {target}); redirects are not followed",
                        method="GET",
                        path=url[:200],
                    )
                if response.status_code >= 400:
                    raise DownloadError(
                        f"the file host answered HTTP {response.status_code}", method="GET", path=url[:200]
                    )
                async for chunk in response.aiter_bytes():  # stops reading one chunk past the cap
                    data += chunk
                    if len(data) > max_bytes:
                        return bytes(data[:max_bytes]), True
        except httpx.HTTPError as exc:
            raise DownloadError(
                f"could not download the file ({type(exc).__name__})", method="GET", path=url[:200]
            ) from None
        return bytes(data), False
