"""Request limits and who the caller is: token-bucket rate limits, trusted proxies (X-Forwarded-For),
body sizes, and the allowed Host/Origin values."""

from __future__ import annotations

import ipaddress
import re
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import Scope

from .errors import HttpConfigError

LOOPBACK_HOSTS = ("127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
LOOPBACK_ORIGINS += tuple(o[:-2] for o in LOOPBACK_ORIGINS)
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


def names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def allowed(value: str, patterns: Iterable[str]) -> bool:
    """Exact match, or `base:*` for any port (the SDK's transport-security semantics)."""
    return any(value == p or (p.endswith(":*") and value.startswith(p[:-1])) for p in patterns)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
