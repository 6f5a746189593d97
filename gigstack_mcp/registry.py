"""The one table of tools. A tool is declared once, in `tools/<resource>.py`, as a small async function
`(api, params) -> result model`; this module turns every declaration into an MCP tool with the same
shape: flat arguments from the params model (+`team`), annotations from its kind, structured output
plus a compact text rendering, API errors as actionable tool errors, results capped in size, guard
rails before any request, and confirmation before anything destructive."""

from __future__ import annotations

import copy
import inspect
import json
import keyword
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, Optional, TypeVar

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, Elicit, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import PydanticUndefined

from ._schema import compact, compact_output
from .client import APIConnectionError, APIStatusError, GigstackError
from .context import Api, AppState, current_credentials
from .guards.confirm import (
    STATE_TTL,
    Confirm,
    ConfirmationError,
    TokenBypass,
    answered_state,
    check_token,
    current_caller,
    issue_token,
)
from .guards.spent import StoreUnavailable
from .models import Out, Page, ToolParams, one_line, plain, quoted
from .policy import PolicyRefusal, ToolRule

log = logging.getLogger("gigstack_mcp")
P = TypeVar("P", bound=ToolParams)
R = TypeVar("R", bound=BaseModel)
ToolFn = Callable[[Api, Any], Awaitable[Any]]
Guard = Callable[[Api, Any], Awaitable[list[str]]]  # returns warnings; raises GuardViolation
Preview = Callable[[Api, Any], Awaitable[str]]


class Kind(StrEnum):
    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


class GuardViolation(Exception):
    """Input we know gigstack/SAT would reject: becomes a tool error and nothing is sent."""


class ConfigError(ValueError):
    """Bad --toolsets/--tools/--exclude-tools: stops start-up with the valid names."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    toolset: str
    kind: Kind
    fn: ToolFn
    params: type[ToolParams]
    output: type[BaseModel]
    idempotent: bool
    guard: Guard | None = None
    preview: Preview | None = None

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.fn.__doc__ or self.title)

    @property
    def annotations(self) -> ToolAnnotations:
        """Only the hints that differ from the MCP defaults (readOnly false, destructive true, idempotent
        false, openWorld true), plus destructiveHint: true on destructive tools, said explicitly:
        reads {readOnlyHint}, writes {destructiveHint: false[, idempotentHint]}, destructive tools
        {destructiveHint: true[, idempotentHint]}, catalogs also {openWorldHint: false} (local data).
        The spec gives destructiveHint and idempotentHint a meaning only when readOnlyHint is false, so
        a read carries neither. No title: the tool's own title says it once. Every hint is paid for in
        every chat."""
        if self.kind is Kind.READ:
            return ToolAnnotations(
                read_only_hint=True, open_world_hint=False if self.toolset == "catalogs" else None
            )
        return ToolAnnotations(
            destructive_hint=self.kind is Kind.DESTRUCTIVE,
            idempotent_hint=True if self.idempotent else None,
            open_world_hint=False if self.toolset == "catalogs" else None,
        )


@dataclass
class Toolset:
    """A group of tools users switch on and off together (`--toolsets`)."""

    name: str
    description: str
    specs: list[ToolSpec] = field(default_factory=list)

    def _add(self, kind: Kind, title: str, idempotent: bool, guard: Guard | None, preview: Preview | None):
        def deco(fn: ToolFn) -> ToolFn:
            hints = inspect.get_annotations(fn, eval_str=True)
            params = next((h for n, h in hints.items() if n != "return" and n != "api"), ToolParams)
            self.specs.append(
                ToolSpec(
                    fn.__name__,
                    title,
                    self.name,
                    kind,
                    fn,
                    params,
                    hints["return"],
                    idempotent,
                    guard,
                    preview,
                )
            )
            return fn

        return deco

    def read(self, title: str):
        return self._add(Kind.READ, title, True, None, None)

    def write(self, title: str, *, idempotent: bool = False, guard: Guard | None = None):
        return self._add(Kind.WRITE, title, idempotent, guard, None)

    def destructive(
        self, title: str, *, preview: Preview, guard: Guard | None = None, idempotent: bool = True
    ):
        return self._add(Kind.DESTRUCTIVE, title, idempotent, guard, preview)


# -- selection ------------------------------------------------------------------------------------

DEFAULT_TOOLSETS = ("clients", "services", "invoices", "payments", "catalogs")


def all_toolsets() -> dict[str, Toolset]:
    from .tools import TOOLSETS

    return {t.name: t for t in TOOLSETS}


def _names(text: str | Iterable[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    return [i.strip() for i in items if i.strip()]


def select(
    toolsets: str = "default", tools: str = "", exclude_tools: str = "", read_only: bool = False
) -> list[ToolSpec]:
    """The specs to register, in table order. Unknown names raise ConfigError listing the valid ones."""
    sets = all_toolsets()
    specs = [s for t in sets.values() for s in t.specs]
    return choose(specs, list(sets), toolsets, tools, exclude_tools, read_only)


RowT = TypeVar("RowT")


def choose(
    rows: list[RowT],
    set_names: list[str],
    toolsets: str = "default",
    tools: str = "",
    exclude_tools: str = "",
    read_only: bool = False,
) -> list[RowT]:
    """`select` over any rows with `name`, `toolset` and `kind` (specs, or the start-up tool cache)."""
    every: dict[str, Any] = {r.name: r for r in rows}  # type: ignore[attr-defined]
    wanted = _names(toolsets) or ["default"]
    chosen: set[str] = set()
    for name in wanted:
        if name == "all":
            chosen |= set(set_names)
        elif name == "default":
            chosen |= {n for n in DEFAULT_TOOLSETS if n in set_names}
        elif name in set_names:
            chosen.add(name)
        else:
            raise ConfigError(f"unknown toolset {name!r}; valid: all, default, {', '.join(set_names)}")
    extra, dropped = _names(tools), _names(exclude_tools)
    for name in extra + dropped:
        if name not in every:
            raise ConfigError(f"unknown tool {name!r}; valid: {', '.join(every)}")
    out = [
        s
        for s in every.values()
        if (s.toolset in chosen or s.name in extra)
        and s.name not in dropped
        and (not read_only or s.kind == Kind.READ)
    ]
    return out


# -- results ---------------------------------------------------------------------------------------

T = TypeVar("T")


class DestructiveResult(Out, Generic[T]):
    """What a destructive tool answers: done, declined, or waiting for the user's confirmation."""

    status: Literal["done", "confirmation_required", "declined"]
    message: str
    preview: str = Field(description="Exactly what happens (or happened): show this to the user.")
    confirmation_token: str | None = Field(
        None, description="Pass back, after the user says yes, to execute."
    )
    expires_at: int | None = None
    result: T | None = None


class WithWarnings(BaseModel):
    warnings: list[str] | None = None


# Fields whose text we wrote ourselves (whole sentences that quote the data inside them): one line, no
# quotes of their own. Every other string in a text result may come from gigstack and is quoted.
_OWN_TEXT = frozenset({"message", "preview", "note"})


def _scalar(v: Any, own: bool = False) -> str:
    """One value of a `key: value` line. Strings from gigstack are quoted unless they are a bare token
    (an id, code, RFC, e-mail, URL); objects and lists are JSON with every invisible character escaped."""
    if isinstance(v, dict | list):
        return one_line(json.dumps(v, ensure_ascii=False, separators=(",", ":")))
    if isinstance(v, str):
        return one_line(v) if own or plain(v) else quoted(v)
    return str(v)


def render_text(result: BaseModel) -> str:
    """The compact text twin of the structured result. Text stored in gigstack comes out quoted and
    escaped (models/_text.py): it can neither start a line of its own nor pass for our words."""
    if isinstance(result, Page):
        total = f" of {result.total_results}" if result.total_results is not None else ""
        lines = [f"{len(result.data)}{total} items."]
        lines += [f"- {one_line(item.summary())}" for item in result.data]
        if result.has_more and result.next:
            lines.append(f"More: call again with next={_scalar(result.next)}")
        if result.note:
            lines.append(f"Note: {one_line(result.note)}")
        return "\n".join(lines)
    as_text = getattr(result, "as_text", None)  # a result that reads better as prose (invoice preview)
    if callable(as_text):
        return as_text()
    data = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return "\n".join(f"{k}: {_scalar(v, k in _OWN_TEXT)}" for k, v in data.items())


def _cap(result: BaseModel, limit: int) -> tuple[BaseModel, str]:
    text = render_text(result)

    def size(r: BaseModel, t: str) -> int:
        return len(t) + len(json.dumps(r.model_dump(mode="json", exclude_none=True), ensure_ascii=False))

    if isinstance(result, Page) and size(result, text) > limit:
        page = result.model_copy(deep=True)
        while page.data and size(page, render_text(page)) > limit:
            page.data.pop()
        page.note = (
            f"Trimmed to {len(page.data)} items to stay under {limit} characters; "
            "ask for a smaller `limit` to page through the rest."
        )
        return page, render_text(page)
    if len(text) > limit:
        text = text[: limit - 80] + "\n… (text truncated; the structured result has the fields)"
    return result, text


def to_call_result(result: BaseModel, limit: int, warnings: list[str]) -> CallToolResult:
    result, text = _cap(result, limit)
    structured = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    if warnings:
        text = "Warnings:\n" + "\n".join(f"- {one_line(w)}" for w in warnings) + "\n\n" + text
        structured["warnings"] = warnings
    content: list[Any] = [TextContent(type="text", text=text)]
    extra = getattr(result, "extra_content", None)  # e.g. an embedded PDF, kept out of structured content
    if callable(extra):
        content += extra()
    return CallToolResult(content=content, structured_content=structured)


# -- errors ----------------------------------------------------------------------------------------

_HINTS = {
    400: "Fix the arguments named above and call again.",
    401: "The gigstack API key was rejected: check GIGSTACK_API_KEY (nothing was done).",
    403: "This key may not act on that team (gigstack Connect): check the `team` argument.",
    404: "No such object: find the right id with the list or search tools.",
    409: "gigstack refused it for a business rule: explain the message to the user before trying anything else.",
    422: "gigstack or the SAT rejected the data: explain the message to the user and correct it.",
}


# The tools that show whether a write happened, for errors that cannot say ("check with …").
CHECK_WITH = {
    "create_client": "list_clients (query: its RFC or name)",
    "update_client": "get_client",
    "delete_client": "get_client",
    "validate_client_fiscal_info": "get_client",
    "create_client_portal_token": "nothing (a new link is harmless: just call again)",
    "stamp_client_pending_receipts": "list_receipts and list_income_invoices",
    "create_service": "list_services",
    "update_service": "get_service",
    "delete_service": "get_service",
    "create_income_invoice": "list_income_invoices",
    "create_egress_invoice": "list_egress_invoices",
    "cancel_invoice": "get_income_invoice or get_egress_invoice (cancellation_status)",
    "request_payment": "list_payments",
    "register_payment": "list_payments",
    "mark_payment_paid": "get_payment",
    "refund_payment": "get_payment (refunded_amount)",
    "cancel_payment": "get_payment",
    "create_receipt": "list_receipts",
    "stamp_receipt": "get_receipt",
    "cancel_receipt": "get_receipt",
    "create_team": "list_teams",
    "update_team": "get_team",
    "update_team_series": "get_team_series",
    "update_team_settings": "get_team",
    "create_team_series": "get_team_series",
    "add_team_member": "get_team (members)",
    "remove_team_member": "get_team (members)",
    "create_user": "list_users",
    "update_user": "get_user",
    "reset_user_password": "nothing here: ask the user whether the e-mail arrived before sending another",
}


def check_with(spec: ToolSpec) -> str:
    return CHECK_WITH.get(spec.name, "the matching get/list tool")


def describe_error(spec: ToolSpec, exc: GigstackError, window: float | None = None) -> str:
    """The tool error for a gigstack error: what happened, then what to do. gigstack's own words are
    shown on one line (models/_text.py). After a write that may have reached gigstack it never says
    nothing happened: it says the change MAY have been applied and which tool shows it."""
    attempts = getattr(exc, "attempts", 1)
    if isinstance(exc, APIStatusError):
        code = f", {one_line(exc.code)}" if exc.code else ""
        head = f"gigstack answered HTTP {exc.status_code}{code}: {one_line(exc.message)}"
        if exc.details:
            head += f" ({one_line('; '.join(map(str, exc.details)))})"
        hint = _HINTS.get(exc.status_code, "")
        if exc.status_code == 429 or exc.status_code >= 500:
            hint = f"gigstack is busy or failing; gave up after {attempts} attempts."
    elif isinstance(exc, APIConnectionError):
        head = f"No usable answer from gigstack ({one_line(exc.message)}); gave up after {attempts} attempts."
        if getattr(exc, "attempts", None) is None:  # refused at once (size, nesting): not retried
            head = f"No usable answer from gigstack: {one_line(exc.message)}."
        hint = ""
    else:
        head, hint = one_line(exc.message), ""
    if spec.kind is Kind.READ:
        return f"{head}. {hint}".strip()
    check = check_with(spec)
    if (
        exc.after_uncertain
        and isinstance(exc, APIStatusError)
        and exc.status_code in (404, 409)
        and spec.kind is Kind.DESTRUCTIVE
    ):
        gone = "it no longer exists" if exc.status_code == 404 else "it is no longer in a state to do it"
        hint = (
            "Probably already done: an earlier attempt of this same call reached gigstack but its answer "
            f"was lost (timeout, server error or dropped connection), and {gone} is what a repeat sees once "
            f"the first attempt has happened. Check with {check}; do not repeat it."
        )
    elif exc.outcome == "unknown":
        hint += (
            " The request was sent; the change MAY have been applied: check with the matching list/get "
            f"tool ({check}) before retrying."
        )
        if exc.idempotency_key:
            again = f" within {window / 60:g} minutes" if window else ""
            hint += (
                f" It carried idempotency_key={exc.idempotency_key}: calling this tool again with the "
                f"same arguments{again} reuses it, and so does passing the same idempotency_key where "
                "the tool takes one; gigstack then answers with what the first attempt made instead "
                "of making it again."
            )
    return f"{head}. {hint}".strip()


def error_result(spec: ToolSpec, exc: GigstackError, window: float | None = None) -> CallToolResult:
    """A tool error, with the facts a client can act on also structured when the outcome is unknown."""
    text = f"Error executing tool {spec.name}: {describe_error(spec, exc, window)}"
    log.info("Tool %r failed: %r", spec.name, text)  # as the SDK logs the tool errors it builds itself
    structured = None
    if exc.outcome == "unknown" and spec.kind is not Kind.READ:
        structured = {"outcome": "unknown", "check_with": check_with(spec)}
        if exc.idempotency_key:
            structured["idempotency_key"] = exc.idempotency_key
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured, is_error=True
    )


# What a field allows, for argument errors: pydantic's own text would show a regular expression.
_FORMATS = {
    "tax_id": (
        "an RFC: 12 characters for a company (AAA + YYMMDD + 3), 13 for a person, uppercase; a customer "
        "abroad without an RFC takes XEXX010101000 with tax_system 616, use S01, address {zip: your own "
        "expedition zip, country: c_Pais e.g. USA} and their own tax id in foreign_tax_id"
    ),
    "zip": "a 5-digit código postal",
    "product_key": "an 8-digit c_ClaveProdServ code, e.g. 80101500 consultoría (lookup_catalog query finds them)",
    "unit_key": "a c_ClaveUnidad code, e.g. E48 (service) or H87 (piece); lookup_catalog lists them",
    "currency": "a c_Moneda code (ISO 4217, uppercase), e.g. MXN or USD",
    "uuid": "a folio fiscal (a UUID, 36 characters)",
    "substitution_uuid": "a folio fiscal (a UUID, 36 characters)",
    "idempotency_key": "8 to 128 characters: A-Z a-z 0-9 . _ : -",
    "series": "1 to 10 uppercase letters",
}
_CATALOG_FIELDS = {
    "tax_system": ("régimen fiscal", "regimen-fiscal"),
    "use": ("uso CFDI", "uso-cfdi"),
    "payment_form": ("forma de pago", "forma-pago"),
    "taxability": ("objeto de impuesto", "objeto-imp"),
    "months": ("meses (global invoice period)", "meses"),
}


def _allowed(field_name: str) -> str | None:
    if field_name in _FORMATS:
        return _FORMATS[field_name]
    if field_name in _CATALOG_FIELDS:
        from .catalogs import rows

        label, slug = _CATALOG_FIELDS[field_name]
        codes = ", ".join(r["code"] for r in rows(slug))
        return f"a {label} code: {codes} (lookup_catalog {slug} gives their names)"
    return None


def _keys_at(arguments: Mapping[str, Any], loc: tuple[Any, ...]) -> list[str]:
    """The keys the object at `loc` takes, read from the published input schema (its `properties`)."""
    node: Any = {"properties": arguments}
    for part in loc:
        branches = node.get("anyOf") or [node]
        node = next((b for b in branches if b.get("type") != "null"), {})
        node = node.get("items", {}) if isinstance(part, int) else node.get("properties", {}).get(part, {})
    branches = node.get("anyOf") or [node]
    node = next((b for b in branches if b.get("type") != "null"), {})
    return list(node.get("properties", {}))


def _validation_text(exc: ValidationError, arguments: Mapping[str, Any] | Iterable[str] = ()) -> str:
    """One clause per problem: where, what was given, what is allowed. Never pydantic's URLs.
    `arguments`: the input schema's properties (or the argument names), to name the allowed keys."""
    props = arguments if isinstance(arguments, Mapping) else {name: {} for name in arguments}
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "arguments"
        name = next((x for x in reversed(err["loc"]) if isinstance(x, str)), "")
        given = repr(err.get("input"))
        given = given if len(given) <= 60 else given[:57] + "..."
        kind = err["type"]
        if kind == "missing":
            text = "required"
        elif kind == "extra_forbidden" and len(err["loc"]) > 1:
            keys = _keys_at(props, err["loc"][:-1])
            owner = ".".join(str(x) for x in err["loc"][:-1])
            text = "unknown key" + (f"; {owner} takes: {', '.join(keys)}" if keys else "")
        elif kind == "extra_forbidden":
            text = "unknown argument" + (f"; this tool takes: {', '.join(props)}" if props else "")
        elif kind == "string_pattern_mismatch" and name == "use" and str(err.get("input")).upper() == "P01":
            text = "P01 (Por definir) does not exist in CFDI 4.0; use S01 (no fiscal effects) or the real use"
        elif kind == "string_pattern_mismatch" and (allowed := _allowed(name)):
            text = f"{given} is not valid; expected {allowed}"
        else:
            text = f"{err['msg']} (got {given})" if "input" in err else err["msg"]
        parts.append(f"{where}: {text}")
    return "Invalid arguments (nothing was sent): " + "; ".join(parts)


def _unreadable_text(spec: ToolSpec, api: Api, exc: ValidationError) -> str:
    where = ", ".join(sorted({".".join(map(str, e["loc"])) or "data" for e in exc.errors()})[:5])
    text = f"gigstack's answer could not be read ({one_line(where)})."
    if api.wrote:
        text += (
            " The request was sent; the change MAY have been applied: check with the matching list/get "
            f"tool ({check_with(spec)}) before retrying."
        )
    return text


class GigstackTool(Tool):
    """The SDK's Tool, with its argument-validation errors worded like ours (`_validation_text`)."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result=convert_result)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                known = self.parameters.get("properties", {})
                text = _validation_text(exc.__cause__, known)
                writes = not (self.annotations and self.annotations.read_only_hint)
                state = getattr(getattr(context, "request_context", None), "lifespan_context", None)
                if writes and isinstance(state, AppState):
                    state.oversight.refused_arguments(self.name, arguments, text)
                raise ToolError(f"Error executing tool {self.name}: {text}") from None
            raise


# -- building MCP tools ------------------------------------------------------------------------------


def _with_confirmation(params: type[ToolParams]) -> type[ToolParams]:
    model = create_model(
        params.__name__,
        __base__=params,
        confirmation_token=(
            str | None,
            Field(None, description="Only after the user's yes."),
        ),
    )
    model.local_fields = (*params.local_fields, "confirmation_token")
    return model


def _can_elicit(ctx: Context) -> bool:
    caps = ctx.client_capabilities
    if caps is None or caps.elicitation is None:
        return False
    if (ctx.protocol_version or "") >= "2026-07-28":
        return True
    try:
        return bool(ctx.session.can_send_request)
    except Exception:
        return False


def _answers_ride_state(ctx: Context) -> bool:
    """2026-07-28: an elicitation's answer arrives in a retried request with the sealed question."""
    return (ctx.protocol_version or "") >= "2026-07-28"


async def _spend(api: Api, key: str, expires: float, then: str) -> None:
    """Record a confirmation as used, atomically (guards/spent.py); refuse a second use, and refuse
    everything while the record cannot be read (nothing is sent)."""
    try:
        first = await api.state.spent.spend(key, expires)
    except StoreUnavailable as exc:
        raise ToolError(
            f"Nothing was done: the record of used confirmations cannot be reached ({exc}), so this "
            "confirmation cannot be spent safely. Try again once it is back."
        ) from None
    if not first:
        raise ToolError(f"This confirmation was already used; nothing was done again. {then}")


def _state(ctx: Context) -> AppState:
    return ctx.request_context.lifespan_context


async def _api(ctx: Context, p: ToolParams) -> Api:
    state = _state(ctx)
    creds = current_credentials.get()  # set by the HTTP transport's auth; None for stdio
    return Api(state, state.team_for(creds, p.team), ctx, creds)  # the caller's team boundary


def _token_args(p: ToolParams, team: str | None) -> dict[str, Any]:
    return p.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"confirmation_token", "team"}
    ) | {"team": team}


def _signature(params: type[ToolParams], extra: list[inspect.Parameter]) -> inspect.Signature:
    """Flat keyword parameters from the model's fields (team last), plus `extra`."""
    out = []
    fields = sorted(params.model_fields.items(), key=lambda kv: kv[0] == "team")
    for name, f in fields:
        fi = copy.copy(f)
        # An optional argument takes null as "not given" (the params model then applies its default).
        kind = f.annotation if f.is_required() else Optional[f.annotation]  # noqa: UP045 (a runtime type)
        default = inspect.Parameter.empty if f.is_required() else None
        fi.default, fi.default_factory = PydanticUndefined, None
        out.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, fi]
            )
        )
    return inspect.Signature(out + extra)


def _set_signature(fn: Callable[..., Any], sig: inspect.Signature, ret: Any) -> None:
    fn.__signature__ = sig.replace(return_annotation=ret)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()} | {"return": ret}


def _outcome(result: BaseModel) -> Literal["done", "declined", "asked"]:
    status = getattr(result, "status", "done") if isinstance(result, DestructiveResult) else "done"
    return {"declined": "declined", "confirmation_required": "asked"}.get(status, "done")  # type: ignore[return-value]


# Writes that move money can be put behind a person's yes by the spend policy (docs/policy.md): they carry
# the same confirmation step as destructive tools, used only when the policy asks for it.
# (A credit note moves no money in: it is stamped against an income invoice the policy already saw.)
# (A payment link collects nothing by itself: its money limit is enough.)
CONFIRMABLE_WRITES = frozenset({"create_income_invoice", "register_payment", "stamp_receipt"})


def build_tool(spec: ToolSpec) -> Tool:
    destructive = spec.kind is Kind.DESTRUCTIVE
    confirmable = destructive or spec.name in CONFIRMABLE_WRITES
    params = _with_confirmation(spec.params) if confirmable else spec.params
    output: Any = DestructiveResult[spec.output] if destructive else spec.output  # type: ignore[name-defined]
    output = create_model(f"{output.__name__}Result", __base__=(output, WithWarnings))

    async def run_guard(api: Api, p: ToolParams) -> list[str]:
        if spec.guard is None:
            return []
        try:
            return await spec.guard(api, p)
        except GuardViolation as exc:
            raise ToolError(f"Not sent to gigstack: {one_line(exc)}") from None

    async def wrapper(ctx: Context, confirmation: Any = None, **kwargs: Any) -> Any:
        try:
            p = params.model_validate(kwargs)
        except ValidationError as exc:
            raise ToolError(_validation_text(exc)) from None
        api = await _api(ctx, p)
        # policy + audit trail
        watch = api.state.oversight.watch(spec.name, spec.kind.value, api, p, confirmable=confirmable)
        try:
            decision = await watch.begin()
            warnings = await run_guard(api, p)
            if destructive:
                result = await _destructive(api, p, confirmation, await spec.preview(api, p))  # type: ignore[misc]
            elif confirmable and decision is ToolRule.CONFIRM:
                result = await _destructive(api, p, confirmation, watch.preview())
            else:
                result = await spec.fn(api, p)
        except PolicyRefusal as exc:  # recorded by begin()
            raise ToolError(f"Not sent to gigstack: {exc}") from None
        except GigstackError as exc:
            answer = error_result(spec, exc, api.state.settings.idempotency_window)
            await watch.end(
                "unknown" if exc.outcome == "unknown" else "failed", reason=answer.content[0].text
            )
            return answer
        except (GuardViolation, ToolError) as exc:
            text = str(exc) if isinstance(exc, ToolError) else f"Not sent to gigstack: {one_line(exc)}"
            await watch.end("refused", reason=text)
            raise ToolError(text) from None
        except ValidationError as exc:  # a result that did not fit: gigstack's answer, never the arguments
            text = _unreadable_text(spec, api, exc)
            await watch.end("unknown" if api.wrote else "failed", reason=text)
            raise ToolError(text) from None
        await watch.end(_outcome(result), result=result)
        return to_call_result(result, api.state.settings.max_result_chars, warnings + api.notes)

    async def _destructive(api: Api, p: Any, confirmation: Any, preview: str) -> DestructiveResult[Any]:
        args = _token_args(p, api.team)
        secret, ttl, caller = api.state.confirm_secret, api.state.settings.confirm_ttl, current_caller()
        if p.confirmation_token:
            try:
                token = check_token(secret, p.confirmation_token, spec.name, args, caller=caller)
            except ConfirmationError as exc:
                raise ToolError(
                    f"Nothing was done: {exc}. Call without confirmation_token to get a new preview."
                ) from None
            await _spend(
                api, "c:" + token.nonce, token.expires, "Call without confirmation_token for a new preview."
            )
        elif isinstance(confirmation, AcceptedElicitation) and isinstance(confirmation.data, TokenBypass):
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
        elif isinstance(confirmation, AcceptedElicitation):
            if not confirmation.data.confirm:
                return DestructiveResult(
                    status="declined", message="The user did not confirm. Nothing was done.", preview=preview
                )
            if _answers_ride_state(api.ctx):  # 2026-07-28: the answer could be sent again; spend it
                state = answered_state() if api.ctx.request_state is not None else None
                if state is None:
                    raise ToolError("Nothing was done: the answer came without its question; call again.")
                await _spend(api, state, time.time() + STATE_TTL, "Call the tool again to ask the user anew.")
        else:
            action = getattr(confirmation, "action", "cancel")
            return DestructiveResult(
                status="declined", message=f"The user chose {action}. Nothing was done.", preview=preview
            )
        result = await spec.fn(api, p)
        return DestructiveResult(status="done", message="Done.", preview=preview, result=result)

    extra = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    if confirmable:

        async def ask(ctx: Context, **kwargs: Any) -> Confirm | Elicit[Confirm]:
            if kwargs.get("confirmation_token") or not _can_elicit(ctx):
                return TokenBypass(confirm=bool(kwargs.get("confirmation_token")), has_token=True)
            try:
                p = params.model_validate({k: v for k, v in kwargs.items() if v is not None})
                api = await _api(ctx, p)
                # The policy first: nobody is asked for what it refuses, and a write asks only when it says so.
                watch = api.state.oversight.watch(spec.name, spec.kind.value, api, p, confirmable=True)
                decision = await watch.decide()
                if not destructive:
                    if decision is not ToolRule.CONFIRM:
                        return TokenBypass(confirm=True, has_token=True)  # not asked: nothing to confirm
                    preview = watch.preview()
                else:
                    await run_guard(api, p)
                    preview = await spec.preview(api, p)  # type: ignore[misc]
            # Asking failed: an error, never a fall back to a token the model could spend without the human.
            except ValidationError as exc:
                raise ToolError(_validation_text(exc)) from None
            except GuardViolation as exc:
                raise ToolError(f"Not sent to gigstack: {exc}") from None
            except PolicyRefusal as exc:
                raise ToolError(f"Not sent to gigstack: {exc}") from None
            except GigstackError as exc:
                raise ToolError(describe_error(spec, exc)) from None
            undone = "This cannot be undone. " if destructive else ""
            return Elicit(f"{preview}\n\n{undone}Go ahead?", Confirm)

        # The resolver takes the arguments by their wire names; one that is a Python keyword (`global`,
        # of invoices) cannot be a parameter, so the resolver goes without it (it needs neither the
        # amount nor the receiver from it; the body's guard rails see every argument).
        wire = (f.alias or name for name, f in params.model_fields.items())
        arg_names = [n for n in wire if n.isidentifier() and not keyword.iskeyword(n)]
        _set_signature(
            ask,
            inspect.Signature(
                [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
                + [
                    inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any)
                    for n in arg_names
                ]
            ),
            Confirm | Elicit[Confirm],
        )
        ask.__name__ = ask.__qualname__ = f"confirm_{spec.name}"
        extra.append(
            inspect.Parameter(
                "confirmation",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[ElicitationResult[Confirm], Resolve(ask)],
            )
        )
    _set_signature(wrapper, _signature(params, extra), output)
    wrapper.__name__ = wrapper.__qualname__ = spec.name

    tool = GigstackTool.from_function(
        wrapper, name=spec.name, title=spec.title, description=spec.description, annotations=spec.annotations
    )
    # Unknown arguments are an error (a typo must not silently drop a field of a tax document).
    strict = type(
        tool.fn_metadata.arg_model.__name__,
        (tool.fn_metadata.arg_model,),
        {"model_config": ConfigDict(extra="forbid", arbitrary_types_allowed=True)},
    )
    tool.fn_metadata.arg_model = strict
    tool.parameters = compact(strict.model_json_schema(by_alias=True))
    tool.fn_metadata.output_schema = compact_output(tool.fn_metadata.output_schema)
    tool.__dict__.pop("output_schema", None)  # cached_property: recompute from the compact schema
    return tool


def build_tools(specs: Iterable[ToolSpec]) -> list[Tool]:
    return [build_tool(s) for s in specs]
