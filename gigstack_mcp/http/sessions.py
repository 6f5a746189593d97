"""Session caps for the 2025-11-25 (handshake) era: open stateful sessions per principal and in all."""

from __future__ import annotations

from typing import Any

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Message, Scope

from .errors import error_response


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
            return error_response(
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
            return error_response(
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


def legacy(headers: Headers) -> bool:
    """A 2025-11-25 (handshake) era request: sessions, and no Mcp-Method header the SDK checks."""
    version = headers.get("mcp-protocol-version")
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS


def opens_session(scope: Scope, headers: Headers) -> bool:
    """A 2025-11-25 POST without a session id: the SDK opens a session for it (kept if answered < 400)."""
    return scope.get("method") == "POST" and "mcp-session-id" not in headers and legacy(headers)


def session_id(start: Message) -> str | None:
    return next((v.decode("latin-1") for k, v in start.get("headers", ()) if k == b"mcp-session-id"), None)
