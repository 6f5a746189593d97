"""Guard rails: SAT rules checked before any request, and confirmation of destructive operations."""

from .confirm import Confirm, ConfirmationError, TokenBypass, check_token, issue_token

__all__ = ["Confirm", "ConfirmationError", "TokenBypass", "check_token", "issue_token"]
