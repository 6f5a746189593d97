"""Guard rails: SAT rules checked before any request, and confirmation of destructive operations."""

from __future__ import annotations

from typing import Any

from .confirm import Confirm, ConfirmationError, TokenBypass, check_token, issue_token
from .refusal import GuardViolation, Refused

# The SAT rules (guards/cfdi/) load lazily, so `python -m gigstack_mcp.guards.cfdi` runs cleanly.
_CFDI = (
    "GuardWarning",
    "RULES",
    "RuleViolation",
    "Severity",
    "Violation",
    "check_cancel",
    "check_client",
    "check_invoice",
    "check_payment",
    "check_receipt",
    "check_receipt_stamp",
)

__all__ = [
    "Confirm",
    "ConfirmationError",
    "GuardViolation",
    "Refused",
    "TokenBypass",
    "check_token",
    "issue_token",
    *_CFDI,
]


def __getattr__(name: str) -> Any:
    if name in _CFDI:
        from . import cfdi

        return getattr(cfdi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
