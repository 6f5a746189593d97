"""The entry points: each builds the `_Doc` for one kind of request and runs the table over it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ... import clock
from ._core import (
    INVOICE,
    RULES,
    GuardWarning,
    Params,
    RuleViolation,
    Severity,
    Violation,
    _code,
    _Doc,
    _map,
    _merge,
    _request,
)

INVOICING_AUTOMATIONS = {"pue_invoice", "stamp_invoice", "ppd_invoice_and_complement"}


# --------------------------------------------------------------------------------------------------
# Running the table


def _run(doc: _Doc, allow_policy: bool) -> list[GuardWarning]:
    violations: list[Violation] = []
    warnings: list[GuardWarning] = []
    for rule_id, r in RULES.items():
        if doc.scope not in r.scopes:
            continue
        for f in r.check(doc):
            args = (rule_id, f.field, f.value, f.allowed, f.es, f.en)
            blocks = r.severity is Severity.BLOCK or (r.severity is Severity.POLICY and not allow_policy)
            if blocks and not f.warn:
                violations.append(Violation(*args, severity=r.severity))
            else:
                warnings.append(GuardWarning(*args, severity=r.severity))
    if violations:
        raise RuleViolation(violations)
    return warnings


def check_invoice(
    body: Mapping[str, Any] | Params,
    invoice_type: str = "I",
    receiver: Mapping[str, Any] | None = None,
    issuer: Mapping[str, Any] | None = None,
    today: date | None = None,
    *,
    allow_policy: bool = False,
) -> list[GuardWarning]:
    """Check an income ("I") or egress ("E") invoice body. `receiver` (the client's fiscal data)
    completes or overrides an inline `client`; `issuer` is the team."""
    if invoice_type not in INVOICE:
        raise ValueError(f"invoice_type must be 'I' or 'E', not {invoice_type!r}")
    body = _request(body)
    doc = _Doc(
        scope=invoice_type,
        body=body,
        receiver=_merge(body.get("client"), receiver),
        issuer=_merge(issuer),
        today=today or clock.today_mx(),
    )
    return _run(doc, allow_policy)


def check_client(
    body: Mapping[str, Any] | Params,
    current: Mapping[str, Any] | None = None,
    issuer: Mapping[str, Any] | None = None,
) -> list[GuardWarning]:
    """Check a client create/update body (for an update, pass the stored client as `current`)."""
    body = _request(body)
    doc = _Doc(
        scope="client",
        body=body,
        receiver=_merge(current, body),
        issuer=_merge(issuer),
        today=clock.today_mx(),
        prefix="",
    )
    return _run(doc, allow_policy=False)


def check_payment(
    body: Mapping[str, Any] | Params,
    receiver: Mapping[str, Any] | None = None,
    issuer: Mapping[str, Any] | None = None,
    today: date | None = None,
    *,
    register: bool | None = None,
    allow_policy: bool = False,
) -> list[GuardWarning]:
    """Check a payment register (already paid: has payment_form) or request (payment link) body. The
    receiver's fiscal data is only checked when the payment's automation issues an invoice."""
    body = _request(body)
    register = "payment_form" in body if register is None else register
    automation = _code(body.get("automation_type"))
    if automation is None:  # gigstack's defaults
        automation = "pue_invoice" if register else "none"
    invoicing = automation in INVOICING_AUTOMATIONS
    doc = _Doc(
        scope="payment",
        body=body,
        receiver=_merge(body.get("client"), receiver) if invoicing else _merge(None),
        issuer=_merge(issuer),
        today=today or clock.today_mx(),
        register=register,
        automation=automation,
    )
    return _run(doc, allow_policy)


def check_receipt(
    body: Mapping[str, Any] | Params,
    issuer: Mapping[str, Any] | None = None,
    today: date | None = None,
    *,
    allow_policy: bool = False,
) -> list[GuardWarning]:
    """Check a receipt (recibo de venta) body: it ends up in a self-invoice or the global invoice."""
    body = _request(body)
    doc = _Doc(
        scope="receipt",
        body=body,
        receiver=_merge(body.get("client")),
        issuer=_merge(issuer),
        today=today or clock.today_mx(),
    )
    return _run(doc, allow_policy)


def check_receipt_stamp(
    body: Mapping[str, Any] | Params,
    receiver: Mapping[str, Any] | None = None,
    issuer: Mapping[str, Any] | None = None,
) -> list[GuardWarning]:
    """Check a receipt stamp body: with stamp_to "client", the receipt's client (`receiver`) as
    overridden by fiscal_information."""
    body = _request(body)
    if body.get("stamp_to") not in (None, "client"):
        return []  # gigstack fills in público en general / extranjero itself
    override = body.get("fiscal_information")
    doc = _Doc(
        scope="stamp",
        body=body,
        receiver=_merge(receiver, override),
        issuer=_merge(issuer),
        today=clock.today_mx(),
        prefix="fiscal_information." if override else "client.",
    )
    return _run(doc, allow_policy=False)


def check_cancel(
    motive: Any,
    substitution_uuid: Any = None,
    invoice: Mapping[str, Any] | None = None,
    today: date | None = None,
) -> list[GuardWarning]:
    """Check a cancellation: `invoice` is the invoice being cancelled (as gigstack returns it), if known."""
    doc = _Doc(
        scope="cancel",
        body={"motive": motive, "substitution_uuid": substitution_uuid},
        receiver=_merge(_map(invoice).get("client")),
        issuer=_merge(None),
        today=today or clock.today_mx(),
        invoice=_map(invoice) if invoice is not None else None,
    )
    return _run(doc, allow_policy=False)
