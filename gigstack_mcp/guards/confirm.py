"""Confirmation before destructive operations, and each confirmation used once.

Two ways to get a human's yes, decided per call:
- the client can elicit: the tool asks with `elicitation/create` (through `Resolve`/`Elicit`, so it
  works in both protocol eras) and shows exactly what will happen;
- it cannot: the first call returns a preview and a `confirmation_token`; only a second call with
  that token executes.

A token is `<expires>.<nonce>.<signature>`: an HMAC with the server's secret over the operation, its
exact arguments, the caller (the HTTP principal; none on stdio), the expiry and a random nonce. Any
replica sharing the secret can verify it, none can retarget it, another caller cannot use it, and only
the exact issued text parses (no padding, spaces, leading zeros or other aliases of the same token).
The nonce is spent (guards/spent.py) right before executing, so a token executes once.

On 2026-07-28 an elicitation's answer comes back with the sealed request state the SDK handed the client
with the question. `SpendableStateCodec` seals it like the SDK does and tells the tool body which sealed
state this request carried; the body spends that id, so one "yes" executes once too. (On 2025-11-25 the
question is a live request inside the call: an answer cannot be sent twice.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.request_state import AESGCMRequestStateCodec, RequestStateSecurity
from pydantic import BaseModel, Field

# How long a sealed 2026-07-28 question (and so its answer) stays valid: the SDK's default.
STATE_TTL = 600.0
# The only text a token may be: what issue_token writes (16-byte nonce, SHA-256 signature, unpadded).
_TOKEN = re.compile(r"(?P<exp>[1-9][0-9]{0,11})\.(?P<nonce>[A-Za-z0-9_-]{22})\.(?P<sig>[A-Za-z0-9_-]{43})")


class Confirm(BaseModel):
    """What the human is asked (keep it one flat boolean: every client can render it)."""

    confirm: bool = Field(description="Yes, do it. This cannot be undone.")


class TokenBypass(Confirm):
    """Not asked: the call carries a confirmation_token, or the client cannot elicit."""

    has_token: bool = False


class ConfirmationError(Exception):
    """A confirmation token is missing, tampered with, expired or for another operation or caller."""


@dataclass(frozen=True)
class Token:
    """A verified token: what a store spends (`nonce`) and until when (`expires`)."""

    expires: int
    nonce: str


def current_caller() -> str | None:
    """The HTTP caller's principal (set by the transport's Gate); None on stdio."""
    token = get_access_token()
    return token.client_id if token is not None else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _signature(
    secret: bytes, operation: str, args: dict[str, Any], caller: str | None, expires: int, nonce: str
) -> bytes:
    canonical = json.dumps(
        {"op": operation, "args": args, "by": caller, "exp": expires, "n": nonce},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hmac.new(secret, canonical.encode(), hashlib.sha256).digest()


def issue_token(
    secret: bytes,
    operation: str,
    args: dict[str, Any],
    ttl: int,
    now: float | None = None,
    caller: str | None = None,
) -> tuple[str, int]:
    """A single-use token binding this operation to exactly these arguments and this caller until
    `expires` (unix seconds)."""
    expires = int((now or time.time()) + ttl)
    nonce = _b64(secrets.token_bytes(16))
    sig = _signature(secret, operation, args, caller, expires, nonce)
    return f"{expires}.{nonce}.{_b64(sig)}", expires


def check_token(
    secret: bytes,
    token: str,
    operation: str,
    args: dict[str, Any],
    now: float | None = None,
    caller: str | None = None,
) -> Token:
    """The verified token, or ConfirmationError. Does not spend it: the caller does, right before acting."""
    shape = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if shape is None:
        raise ConfirmationError("the confirmation_token is malformed (pass it back exactly as it was given)")
    expires, nonce = int(shape["exp"]), shape["nonce"]
    sig = base64.urlsafe_b64decode(shape["sig"] + "=")
    # 22 and 43 characters carry a few spare bits: only the canonical spelling of each value counts.
    if _b64(sig) != shape["sig"] or _b64(base64.urlsafe_b64decode(nonce + "==")) != nonce:
        raise ConfirmationError("the confirmation_token is malformed (pass it back exactly as it was given)")
    expected = _signature(secret, operation, args, caller, expires, nonce)
    if not hmac.compare_digest(sig, expected):
        raise ConfirmationError(
            "the confirmation_token does not match this operation, these arguments and this caller "
            "(it was issued for another target, other values or another client)"
        )
    if (now or time.time()) > expires:
        raise ConfirmationError("the confirmation_token has expired")
    return Token(expires, nonce)


# -- 2026-07-28: the sealed state an elicitation's answer comes back with ------------------------------

_answered_state: ContextVar[str | None] = ContextVar("gigstack_answered_state", default=None)


class SpendableStateCodec:
    """The SDK's AES-256-GCM request-state codec, which also records (for this request only) an id of
    the sealed state it opened. Every seal uses a fresh random GCM nonce and the SDK decodes the token
    strictly, so one minted state has exactly one valid text: its hash identifies one question asked."""

    def __init__(self, key: bytes) -> None:
        self._inner = AESGCMRequestStateCodec([key])

    def seal(self, payload: bytes) -> str:
        return self._inner.seal(payload)

    def unseal(self, token: str) -> bytes:
        payload = self._inner.unseal(token)
        # Set in the request's own task (the SDK opens the state right before running the handler).
        _answered_state.set("s:" + hashlib.sha256(token.encode()).hexdigest()[:40])
        return payload


def request_state_security(key: bytes) -> RequestStateSecurity:
    return RequestStateSecurity(codec=SpendableStateCodec(key), ttl=STATE_TTL)


def answered_state() -> str | None:
    """The id of the sealed state this request carried (None when it carried none)."""
    return _answered_state.get()
