"""Connection pooling for the gigstack client: a few small httpx pools, each request to the least busy."""

from __future__ import annotations

import functools
import ssl

import httpx


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
