"""The server's one Redis client. Replicas share one Redis (GIGSTACK_MCP_REDIS_URL / --redis-url) for two
things: the spent confirmations (guards/spent.py) and the spend policy's cap counters (policy.py). Both
go through this one client and its connection pool; the server's lifespan makes it (server.py) and
closes it after both stores. `redis` is imported on first use: start-up and `tools/list` never pay for
it. Errors are each user's to handle, and both fail closed (nothing is sent while Redis cannot answer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings


class SharedRedis:
    """A `redis.asyncio.Redis` for one URL, made on the first `client()` call."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self._url, self.timeout = url, timeout
        self._redis: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SharedRedis | None:
        """The client for GIGSTACK_MCP_REDIS_URL, or None (this process keeps its own records)."""
        url = settings.mcp_redis_url
        return cls(url.get_secret_value()) if url is not None else None

    def __repr__(self) -> str:  # the URL may hold a password
        return "SharedRedis(url='**********')"

    def client(self) -> Any:
        if self._redis is None:
            import redis.asyncio

            self._redis = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        return self._redis

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def shared(redis: SharedRedis | str) -> tuple[SharedRedis, bool]:
    """`(client, owned)`: a store given a URL (a test, a tool of its own) makes and closes its own client;
    given the server's `SharedRedis`, it leaves closing to the server."""
    return (SharedRedis(redis), True) if isinstance(redis, str) else (redis, False)
