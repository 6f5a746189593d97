"""Error wording: what went wrong, the value given, what is allowed and what to do next, for bad
arguments, refusals before sending, and gigstack's own errors."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from ..client import APIConnectionError, APIStatusError, GigstackError
from ..context import Api
from ..guards.refusal import GuardViolation
from ..models import one_line
from .spec import Kind, ToolSpec

log = logging.getLogger("gigstack_mcp")

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
        from ..catalogs import rows

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


def refusal_text(exc: GuardViolation) -> str:
    """A guard refusal's tool error text: its rule IDs, fields, values and what is allowed stay in it."""
    return f"Not sent to gigstack: {one_line(exc)}"


def refusal_result(spec: ToolSpec, exc: GuardViolation) -> CallToolResult:
    """A guard refusal as a tool error; the broken rules also structured: {refused: [{rule, field,
    value, allowed}]}."""
    text = f"Error executing tool {spec.name}: {refusal_text(exc)}"
    log.info("Tool %r failed: %r", spec.name, text)
    structured = {"refused": [r.as_dict() for r in exc.refused]} if exc.refused else None
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured, is_error=True
    )
