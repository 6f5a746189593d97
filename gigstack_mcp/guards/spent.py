"""The set of spent confirmations, so that one "yes" executes one operation.

A confirmation (a `confirmation_token`'s nonce, or the sealed 2026-07-28 request state that carried an
accepted elicitation) is spent with one atomic "set if absent, expiring with the confirmation"; the
second spend of the same id fails. Two implementations:
- `MemorySpentStore`: one process (stdio, a single HTTP server); bounded and expiring;
- `RedisSpentStore`: replicas behind a balancer share one Redis (`GIGSTACK_MCP_REDIS_URL`), so a
  confirmation spent on one replica is spent on all. Redis unreachable: `StoreUnavailable`, and the
  caller does nothing (fail closed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..settings import Settings

Clock = Callable[[], float]
KEY_PREFIX = "gigstack-mcp:spent:"


class StoreUnavailable(Exception):
    """The spent-confirmation store cannot answer: nothing may be executed."""


class SpentStore(Protocol):
    async def spend(self, nonce: str, expires_at: float) -> bool:
        """Record `nonce` as spent until `expires_at` (unix seconds). True the first time only.

        Raises:
            StoreUnavailable: the store cannot tell whether it was spent before.
        """
        ...

    async def aclose(self) -> None: ...


class MemorySpentStore:
    """Spent nonces in this process: a dict with expiries. Bounded: when full of unexpired entries it
    refuses new spends (StoreUnavailable) rather than forget one, which would reopen it to replay."""

    def __init__(self, max_entries: int = 100_000, clock: Clock = time.time) -> None:
        self.max_entries, self.clock = max_entries, clock
        self._spent: dict[str, float] = {}

    async def spend(self, nonce: str, expires_at: float) -> bool:
        # No await between the check and the set: atomic on the event loop.
        now = self.clock()
        seen = self._spent.get(nonce)
        if seen is not None and seen > now:
            return False
        if len(self._spent) >= self.max_entries:
            self._spent = {n: exp for n, exp in self._spent.items() if exp > now}
            if len(self._spent) >= self.max_entries:
                raise StoreUnavailable(
                    f"{self.max_entries} confirmations are in use at once in this process; "
                    "wait for some to expire or lower confirm_ttl"
                )
        self._spent[nonce] = expires_at
        return True

    async def aclose(self) -> None:
        self._spent.clear()


class RedisSpentStore:
    """Spent nonces in Redis: `SET key 1 NX EX <seconds left>`, atomic across every replica.

    `redis` is imported on the first spend, so start-up and `tools/list` never pay for it."""

    def __init__(self, url: str, clock: Clock = time.time, timeout: float = 2.0) -> None:
        self._url, self.clock, self.timeout = url, clock, timeout
        self._redis: Any = None

    def _client(self) -> Any:
        if self._redis is None:
            import redis.asyncio

            self._redis = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        return self._redis

    async def spend(self, nonce: str, expires_at: float) -> bool:
        import redis.exceptions

        seconds = max(1, math.ceil(expires_at - self.clock()))
        try:
            first = await self._client().set(KEY_PREFIX + nonce, b"1", nx=True, ex=seconds)
        except (redis.exceptions.RedisError, OSError) as exc:
            # The URL may hold a password: name the error's kind only.
            raise StoreUnavailable(f"Redis did not answer ({type(exc).__name__})") from None
        return bool(first)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def spent_store(settings: Settings, clock: Clock = time.time) -> SpentStore:
    """Redis when GIGSTACK_MCP_REDIS_URL is set, else this process's memory."""
    if settings.mcp_redis_url is not None:
        return RedisSpentStore(settings.mcp_redis_url.get_secret_value(), clock)
    return MemorySpentStore(clock=clock)
