"""The call path, one named step after another: parse -> open the call (team, policy watch, the
phase's reads) -> policy -> guard -> confirm -> execute -> render. Each step is a plain function;
`call` walks them for the tool body and `question` for the confirmation resolver. A write called with
`preview` true runs its rehearsal instead of confirm -> execute: a read, never asked about nor counted
against the caps (the stamping call that follows is). The oversight `Watch` records every refusal and
outcome (oversight.py); nothing here knows the SDK's internals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, ValidationError

from ..client import GigstackError
from ..context import Api, AppState, current_credentials, phase_reads
from ..guards.confirm import TokenBypass
from ..guards.refusal import GuardViolation, RefusedArgument
from ..models import ToolParams
from ..policy import PolicyRefusal, ToolRule
from .confirmation import asked_live, can_elicit, confirm
from .errors import (
    _unreadable_text,
    _validation_text,
    describe_error,
    error_result,
    refusal_result,
    refusal_text,
)
from .render import DestructiveResult, to_call_result
from .spec import Kind, ToolSpec

if TYPE_CHECKING:
    from ..oversight import Watch


@contextmanager
def one_phase(confirms: bool = True) -> Iterator[None]:
    """One request of a call that confirms: the target is read once and the preview, the guard rails
    and the tool share that read (other tools read as they go)."""
    token = phase_reads.set({} if confirms else None)
    try:
        yield
    finally:
        phase_reads.reset(token)


def parse(params: type[ToolParams], kwargs: dict[str, Any]) -> ToolParams:
    """The params model, or ToolError (invalid arguments), or GuardViolation (an argument a rule
    refuses: a RefusedArgument raised in the model)."""
    try:
        return params.model_validate(kwargs)
    except ValidationError as exc:
        for err in exc.errors():
            if isinstance(cause := (err.get("ctx") or {}).get("error"), RefusedArgument):
                raise cause.violation from None
        raise ToolError(_validation_text(exc)) from None


def open_api(ctx: Any, p: ToolParams) -> Api:
    state: AppState = ctx.request_context.lifespan_context
    creds = current_credentials.get()  # set by the HTTP transport's auth; None for stdio
    return Api(state, state.team_for(creds, p.team), ctx, creds)  # the caller's team boundary


async def guard(spec: ToolSpec, api: Api, p: ToolParams) -> list[str]:
    """The tool's guard rails: warnings to show, or GuardViolation (nothing is sent)."""
    return await spec.guard(api, p) if spec.guard is not None else []


async def execute(spec: ToolSpec, api: Api, p: ToolParams) -> Any:
    return await spec.fn(api, p)


def outcome(result: BaseModel) -> Literal["done", "declined", "asked"]:
    status = getattr(result, "status", "done") if isinstance(result, DestructiveResult) else "done"
    return {"declined": "declined", "confirmation_required": "asked"}.get(status, "done")  # type: ignore[return-value]


async def act(spec: ToolSpec, api: Api, p: Any, confirmation: Any, decision: ToolRule, watch: Watch) -> Any:
    """Confirm (when the tool or the policy wants a yes), then execute."""
    if spec.kind is Kind.DESTRUCTIVE:
        preview = await spec.preview(api, p)  # type: ignore[misc]
    elif spec.confirmable and decision is ToolRule.CONFIRM:
        preview = watch.preview()
    else:
        return await execute(spec, api, p)
    stop = await confirm(spec, api, p, confirmation, preview)
    if stop is not None:
        return stop
    result = await execute(spec, api, p)
    return DestructiveResult(status="done", message="Done.", preview=preview, result=result)


async def call(
    spec: ToolSpec, params: type[ToolParams], ctx: Any, confirmation: Any, kwargs: dict[str, Any]
) -> Any:
    """The tool body: every step, with the policy watch told how it ended."""
    if asked_live(ctx, confirmation):
        phase_reads.set({})  # the user was asked during this request: re-check the target before acting
    try:
        p = parse(params, kwargs)
        api = open_api(ctx, p)
    except GuardViolation as exc:  # an argument a rule refuses, a team outside the caller's: unrecorded
        return refusal_result(spec, exc)
    rehearsal = spec.rehearses(p)
    watch = api.state.oversight.watch(
        spec.name, spec.kind.value, api, p, confirmable=spec.confirmable, rehearsal=rehearsal
    )
    try:
        decision = await watch.begin()  # the spend policy; its refusals are recorded by begin()
        warnings = await guard(spec, api, p)
        if rehearsal:
            result = await spec.rehearsal(api, p, warnings)  # type: ignore[misc]
            await watch.end("previewed", result=result)
            return render(api, result, [])  # the rehearsal shows the warnings itself
        result = await act(spec, api, p, confirmation, decision, watch)
    except PolicyRefusal as exc:  # a GuardViolation the watch has recorded already
        return refusal_result(spec, exc)
    except GigstackError as exc:
        answer = error_result(spec, exc, api.state.settings.idempotency_window)
        await watch.end("unknown" if exc.outcome == "unknown" else "failed", reason=answer.content[0].text)
        return answer
    except GuardViolation as exc:
        await watch.end("refused", reason=refusal_text(exc))
        return refusal_result(spec, exc)
    except ToolError as exc:
        await watch.end("refused", reason=str(exc))
        raise ToolError(str(exc)) from None
    except ValidationError as exc:  # a result that did not fit: gigstack's answer, never the arguments
        text = _unreadable_text(spec, api, exc)
        await watch.end("unknown" if api.wrote else "failed", reason=text)
        raise ToolError(text) from None
    await watch.end(outcome(result), result=result)
    return render(api, result, warnings)


def render(api: Api, result: BaseModel, warnings: list[str]) -> CallToolResult:
    return to_call_result(result, api.state.settings.max_result_chars, warnings + api.notes)


async def question(
    spec: ToolSpec, params: type[ToolParams], ctx: Any, kwargs: dict[str, Any]
) -> str | TokenBypass:
    """The confirmation resolver's steps: the policy first (nobody is asked for what it refuses, and a
    write asks only when it says so), then the guard rails, then the preview as the question. A
    TokenBypass when nobody can or need be asked. Asking that fails is an error, never a fall back to a
    token the model could spend without the human."""
    if kwargs.get("confirmation_token") or not can_elicit(ctx):
        return TokenBypass(confirm=bool(kwargs.get("confirmation_token")), has_token=True)
    try:
        p = parse(params, {k: v for k, v in kwargs.items() if v is not None})
        if spec.rehearses(p):
            return TokenBypass(confirm=True, has_token=True)  # a rehearsal sends nothing: nobody is asked
        api = open_api(ctx, p)
        watch = api.state.oversight.watch(spec.name, spec.kind.value, api, p, confirmable=True)
        decision = await watch.decide()
        if spec.kind is not Kind.DESTRUCTIVE:
            if decision is not ToolRule.CONFIRM:
                return TokenBypass(confirm=True, has_token=True)  # not asked: nothing to confirm
            preview = watch.preview()
        else:
            await guard(spec, api, p)
            preview = await spec.preview(api, p)  # type: ignore[misc]
    except ValidationError as exc:
        raise ToolError(_validation_text(exc)) from None
    except GuardViolation as exc:  # a PolicyRefusal too: the same text a call's refusal has
        raise ToolError(refusal_text(exc)) from None
    except GigstackError as exc:
        raise ToolError(describe_error(spec, exc)) from None
    undone = "This cannot be undone. " if spec.kind is Kind.DESTRUCTIVE else ""
    return f"{preview}\n\n{undone}Go ahead?"
