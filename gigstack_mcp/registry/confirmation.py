"""The confirmation step of destructive tools (and of money writes the spend policy puts behind a
person's yes): a question answered by elicitation, or a signed single-use token when the client cannot
be asked. `confirm` says whether the call may go ahead; nothing here runs the tool."""

from __future__ import annotations

import time
from typing import Any

from mcp.server.elicitation import AcceptedElicitation

from ..context import Api
from ..guards.confirm import (
    STATE_TTL,
    ConfirmationError,
    TokenBypass,
    answered_state,
    check_token,
    current_caller,
    issue_token,
)
from ..guards.refusal import refuse
from ..guards.spent import StoreUnavailable
from ..models import ToolParams
from .render import DestructiveResult
from .spec import ToolSpec


def can_elicit(ctx: Any) -> bool:
    caps = ctx.client_capabilities
    if caps is None or caps.elicitation is None:
        return False
    if (ctx.protocol_version or "") >= "2026-07-28":
        return True
    try:
        return bool(ctx.session.can_send_request)
    except Exception:
        return False


def answers_ride_state(ctx: Any) -> bool:
    """2026-07-28: an elicitation's answer arrives in a retried request with the sealed question."""
    return (ctx.protocol_version or "") >= "2026-07-28"


def asked_live(ctx: Any, confirmation: Any) -> bool:
    """2025-11-25: the user was asked in the middle of this very request (and may have taken minutes)."""
    answered = isinstance(confirmation, AcceptedElicitation) and not isinstance(
        confirmation.data, TokenBypass
    )
    return answered and not answers_ride_state(ctx)


async def spend(api: Api, key: str, expires: float, then: str) -> None:
    """Record a confirmation as used, atomically (guards/spent.py); refuse a second use, and refuse
    everything while the record cannot be read (nothing is sent)."""
    try:
        first = await api.state.spent.spend(key, expires)
    except StoreUnavailable as exc:
        raise refuse(
            "CONFIRM-STORE",
            f"Nothing was done: the record of used confirmations cannot be reached ({exc}), so this "
            "confirmation cannot be spent safely. Try again once it is back.",
        ) from None
    if not first:
        raise refuse(
            "CONFIRM-USED",
            f"This confirmation was already used; nothing was done again. {then}",
            field="confirmation_token",
            allowed="a confirmation not used before",
        )


def token_args(p: ToolParams, team: str | None) -> dict[str, Any]:
    return p.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"confirmation_token", "team"}
    ) | {"team": team}


async def confirm(
    spec: ToolSpec, api: Api, p: Any, confirmation: Any, preview: str
) -> DestructiveResult[Any] | None:
    """None when the call may go ahead (a valid token or the user's yes, spent once); otherwise the
    answer to give instead: the preview with a token to confirm, or "declined"."""
    args = token_args(p, api.team)
    secret, ttl, caller = api.state.confirm_secret, api.state.settings.confirm_ttl, current_caller()
    if p.confirmation_token:
        try:
            token = check_token(secret, p.confirmation_token, spec.name, args, caller=caller)
        except ConfirmationError as exc:
            raise refuse(
                "CONFIRM-TOKEN",
                f"Nothing was done: {exc}. Call without confirmation_token to get a new preview.",
                field="confirmation_token",
                allowed="the token of this tool's preview for these arguments and caller, unexpired",
            ) from None
        await spend(
            api, "c:" + token.nonce, token.expires, "Call without confirmation_token for a new preview."
        )
        return None
    if isinstance(confirmation, AcceptedElicitation) and isinstance(confirmation.data, TokenBypass):
        token_text, expires = issue_token(secret, spec.name, args, ttl, caller=caller)  # cannot ask
        return DestructiveResult(
            status="confirmation_required",
            message=(
                "Nothing was done yet. Show the preview to the user and ask for a yes; "
                "then call this tool again with the same arguments plus confirmation_token."
            ),
            preview=preview,
            confirmation_token=token_text,
            expires_at=expires,
        )
    if isinstance(confirmation, AcceptedElicitation):
        if not confirmation.data.confirm:
            return DestructiveResult(
                status="declined", message="The user did not confirm. Nothing was done.", preview=preview
            )
        if answers_ride_state(api.ctx):  # 2026-07-28: the answer could be sent again; spend it
            state = answered_state() if api.ctx.request_state is not None else None
            if state is None:
                raise refuse(
                    "CONFIRM-STATE", "Nothing was done: the answer came without its question; call again."
                )
            await spend(api, state, time.time() + STATE_TTL, "Call the tool again to ask the user anew.")
        return None
    action = getattr(confirmation, "action", "cancel")
    return DestructiveResult(
        status="declined", message=f"The user chose {action}. Nothing was done.", preview=preview
    )
