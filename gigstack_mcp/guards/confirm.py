"""Confirmation before destructive operations.

Two ways to get a human's yes, decided per call:
- the client can elicit: the tool asks with `elicitation/create` (through `Resolve`/`Elicit`, so it
  works in both protocol eras) and shows exactly what will happen;
- it cannot: the first call returns a preview and a `confirmation_token`; only a second call with
  that token executes. Tokens are stateless HMACs over (operation, target arguments, expiry) with the
  server's secret, so any replica sharing the secret honours them and none can be retargeted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from pydantic import BaseModel, Field


class Confirm(BaseModel):
    """What the human is asked (keep it one flat boolean: every client can render it)."""

    confirm: bool = Field(description="Yes, do it. This cannot be undone.")


class TokenBypass(Confirm):
    """Not asked: the call carries a confirmation_token, or the client cannot elicit."""

    has_token: bool = False


class ConfirmationError(Exception):
    """A confirmation token is missing, tampered with, expired or for another operation."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _canonical(operation: str, args: dict[str, Any], expires: int) -> bytes:
    return json.dumps(
        {"op": operation, "args": args, "exp": expires}, sort_keys=True, separators=(",", ":")
    ).encode()


def issue_token(
    secret: bytes, operation: str, args: dict[str, Any], ttl: int, now: float | None = None
) -> tuple[str, int]:
    """A token binding this operation to exactly these arguments until `expires` (unix seconds)."""
    expires = int((now or time.time()) + ttl)
    sig = hmac.new(secret, _canonical(operation, args, expires), hashlib.sha256).digest()
    return f"{expires}.{_b64(sig)}", expires


def check_token(
    secret: bytes, token: str, operation: str, args: dict[str, Any], now: float | None = None
) -> None:
    try:
        exp_text, sig_text = token.split(".", 1)
        expires = int(exp_text)
        sig = _unb64(sig_text)
    except (ValueError, TypeError):
        raise ConfirmationError("the confirmation_token is malformed") from None
    expected = hmac.new(secret, _canonical(operation, args, expires), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise ConfirmationError(
            "the confirmation_token does not match this operation and these arguments "
            "(it was issued for another target or other values)"
        )
    if (now or time.time()) > expires:
        raise ConfirmationError("the confirmation_token has expired")
