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
from typing import Protocol

from ..shared_redis import SharedRedis, shared

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
    """Spent nonces in Redis: `SET key 1 NX EX <seconds left>`, atomic across every replica. `redis`: the
    server's one client (shared_redis.py, also used by the policy's counters), or a URL for a client of
    its own; imported on the first spend, so start-up and `tools/list` never pay for it."""

    def __init__(self, redis: SharedRedis | str, clock: Clock = time.time) -> None:
        self._redis, self._owned = shared(redis)
        self.clock = clock

    async def spend(self, nonce: str, expires_at: float) -> bool:
        import redis.exceptions

        seconds = max(1, math.ceil(expires_at - self.clock()))
        try:
            first = await self._redis.client().set(KEY_PREFIX + nonce, b"1", nx=True, ex=seconds)
        except (redis.exceptions.RedisError, OSError) as exc:
            # The URL may hold a password: name the error's kind only.
            raise StoreUnavailable(f"Redis did not answer ({type(exc).__name__})") from None
        return bool(first)

    async def aclose(self) -> None:
        if self._owned:
            await self._redis.aclose()


def spent_store(redis: SharedRedis | None, clock: Clock = time.time) -> SpentStore:
    """Redis when the server has one (GIGSTACK_MCP_REDIS_URL), else this process's memory."""
    if redis is not None:
        return RedisSpentStore(redis, clock)
    return MemorySpentStore(clock=clock)
