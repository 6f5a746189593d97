"""Fault injection: latency, 429 with Retry-After, 5xx, dropped connections, malformed JSON, and
commit-then-fail (the write happens, the answer is an error). Also answers that are valid but odd or
hostile: a given JSON body (`body`), an oversized one (`oversize`, `size` bytes) and a deeply nested one
(`deep`, `depth` levels). An ASGI middleware, so faults look to a client exactly like a misbehaving
network or server."""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field

FaultKind = Literal["latency", "status", "drop", "malformed", "body", "oversize", "deep"]


class FaultRule(BaseModel):
    kind: FaultKind
    method: str | None = Field(None, description="Only this HTTP method (GET, POST, ...).")
    path: str | None = Field(None, description="Regex searched in the path below /v2, e.g. '^/clients'.")
    times: int | None = Field(1, ge=1, description="How many matching requests it hits; null = unlimited.")
    probability: float = Field(1.0, ge=0, le=1, description="Chance that a matching request is hit.")
    status: int = Field(503, ge=400, le=599)
    retry_after: float | None = Field(None, ge=0, description="Retry-After seconds on a status fault.")
    delay: float = Field(
        0.0, ge=0, le=120, description="Seconds to wait first (latency, or before any kind)."
    )
    after: bool = Field(False, description="Run the real handler first (commit), then fail the answer.")
    body: Any = Field(None, description="body: the JSON answered (HTTP 200) instead of the real one.")
    size: int = Field(50_000_000, ge=1, le=200_000_000, description="oversize: bytes of the answer.")
    depth: int = Field(100_000, ge=1, le=1_000_000, description="deep: nesting levels of the answer.")


@dataclass
class FaultInjector:
    rules: list[FaultRule] = field(default_factory=list)
    seed: int | None = None
    injected: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def add(self, *rules: FaultRule | dict[str, Any]) -> None:
        with self._lock:
            self.rules.extend(r if isinstance(r, FaultRule) else FaultRule.model_validate(r) for r in rules)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset(self) -> None:
        """No rules, nothing counted, the random draws from the start of the seed again."""
        with self._lock:
            self.rules.clear()
            self.injected.clear()
            self._rng = random.Random(self.seed)

    def take(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.method and rule.method.upper() != method:
                    continue
                if rule.path and not re.search(rule.path, path):
                    continue
                if rule.probability < 1 and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                label = f"{rule.kind}{'' if rule.kind != 'status' else rule.status}{'-after' if rule.after else ''}"
                self.injected[label] = self.injected.get(label, 0) + 1
                return rule
        return None


def _odd_body(rule: FaultRule) -> bytes:
    """The 200 answer of a body/oversize/deep fault."""
    if rule.kind == "body":
        return json.dumps(rule.body).encode()
    if rule.kind == "deep":
        return b'{"message": "ok", "data": {"x": ' + b"[" * rule.depth + b"]" * rule.depth + b"}}"
    head, tail = b'{"message": "ok", "data": {"id": "x", "note": "', b'"}}'
    return head + b"A" * max(0, rule.size - len(head) - len(tail)) + tail


def _error_body(status: int) -> bytes:
    code = (
        "rate_limit_exceeded"
        if status == 429
        else "service_unavailable"
        if status == 503
        else "internal_server_error"
    )
    return json.dumps(
        {"message": "Injected fault", "error": f"Sandbox fault injection: HTTP {status}", "code": code}
    ).encode()


async def _buffered(receive: Any) -> Any:
    """Read the whole request body now; the app then receives it as one message (later messages, such
    as the client's disconnect, come from the connection as usual)."""
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return receive
        body += message.get("body", b"")
        more = message.get("more_body", False)
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class FaultMiddleware:
    """Applies a matching rule to requests under /v2."""

    def __init__(self, app: Any, injector: FaultInjector) -> None:
        self.app, self.injector = app, injector

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v2/"):
            return await self.app(scope, receive, send)
        rule = self.injector.take(scope["method"], path[3:])
        if rule is None:
            return await self.app(scope, receive, send)
        if rule.delay:  # the request arrives in full, then the server is slow (and may still commit)
            receive = await _buffered(receive)
            await anyio.sleep(rule.delay)
        if rule.kind == "latency":
            return await self.app(scope, receive, send)
        if rule.after:

            async def swallow(message: Any) -> None:
                return None

            await self.app(scope, receive, swallow)
        if rule.kind == "status":
            headers = [(b"content-type", b"application/json")]
            if rule.retry_after is not None:
                headers.append((b"retry-after", str(rule.retry_after).encode()))
            await send({"type": "http.response.start", "status": rule.status, "headers": headers})
            await send({"type": "http.response.body", "body": _error_body(rule.status)})
        elif rule.kind in ("body", "oversize", "deep"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": _odd_body(rule)})
        elif rule.kind == "malformed":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"message": "ok", "data": {'})
        else:  # drop: promise a body, send part of it, then abort the connection
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]}
            )
            await send({"type": "http.response.body", "body": b'{"message"', "more_body": True})
            raise ConnectionAbortedError("sandbox fault injection: dropped connection")
