"""Sandbox /invoices: income (I) and egress (E) CFDIs, payment complements (P), files and cancellation.
The building (totals, folios, balances) lives in `_invoicing.py`, shared with payments and receipts."""

from __future__ import annotations

import re
from typing import Any

from ._core import ApiError, Ctx, Resource, conflict, invalid, not_found, now, ok
from ._fiscal import EXTRANJERO, PUBLICO_GENERAL
from ._invoicing import COLL, add_payment_complement, build_invoice, file_urls, local_ctx, view
from ._store import Doc, Store

resource = Resource("invoices")
UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_STATUS_ALIASES = {"canceled": "cancelled", "stamped": "valid"}
_WHAT = {"I": "Income invoice", "E": "Egress invoice", "P": "Payment complement"}
_MOTIVES = {
    "01": "issued with errors, replaced",
    "02": "issued with errors, no replacement",
    "03": "operation did not take place",
    "04": "nominative operation in a global invoice",
}
ACCEPTANCE_THRESHOLD = 1000.0  # MXN; above it the receiver must accept (RMF 2.7.1.35)


def _filters(ctx: Ctx, invoice_type: str):
    q = ctx.query
    status = q.get("status")
    status = _STATUS_ALIASES.get(status, status) if status else None
    folio = q.get("folio_number")
    if folio is not None and not folio.isdigit():
        raise invalid("folio_number must be a positive integer", "Invalid query parameter")
    # payment_method is taken but not honoured: gigstack's CLI sends it, and says (context.ts) gigstack
    # does not filter by it server-side yet
    wanted = {
        "client_id": q.get("client_id"),
        "series": q.get("series"),
        "invoice_id": (q.get("invoice_id") or "").upper() or None,
    }

    def pred(d: Doc) -> bool:
        return (
            d.get("invoice_type") == invoice_type
            and (status is None or d.get("status") == status)
            and (folio is None or d.get("folio_number") == int(folio))
            and (wanted["client_id"] is None or (d.get("client") or {}).get("id") == wanted["client_id"])
            and (wanted["series"] is None or d.get("series") == wanted["series"])
            and (wanted["invoice_id"] is None or d.get("invoice_id") == wanted["invoice_id"])
        )

    return pred


def _get(ctx: Ctx, invoice_type: str | None = None) -> Doc:
    uuid = ctx.params["uuid"].upper()
    what = _WHAT.get(invoice_type or "", "Invoice")
    doc = ctx.store.get(ctx.team, COLL, uuid)
    if doc is None or (invoice_type and doc.get("invoice_type") != invoice_type):
        raise not_found(what, ctx.params["uuid"])
    return doc


def _listing(ctx: Ctx, invoice_type: str):
    return ctx.page(COLL, "Invoices retrieved successfully", _filters(ctx, invoice_type))


# -- income ---------------------------------------------------------------------------------------------


@resource.op("GET", "/invoices/income", "list_income_invoices")
def list_income(ctx: Ctx):
    return _listing(ctx, "I")


@resource.op("POST", "/invoices/income", "create_income_invoice")
def create_income(ctx: Ctx):
    doc = build_invoice(ctx, ctx.body, "I")
    return ok(view(ctx, doc, created=True), "Invoice created successfully", 201)


@resource.op("GET", "/invoices/income/{uuid}", "get_income_invoice")
def get_income(ctx: Ctx):
    return ok(view(ctx, _get(ctx, "I")), "Invoice retrieved successfully")


# -- egress ---------------------------------------------------------------------------------------------


@resource.op("GET", "/invoices/egress", "list_egress_invoices")
def list_egress(ctx: Ctx):
    return _listing(ctx, "E")


@resource.op("POST", "/invoices/egress", "create_egress_invoice")
def create_egress(ctx: Ctx):
    doc = build_invoice(ctx, ctx.body, "E")
    return ok(view(ctx, doc, created=True), "Egress invoice created successfully", 201)


@resource.op("GET", "/invoices/egress/{uuid}", "get_egress_invoice")
def get_egress(ctx: Ctx):
    return ok(view(ctx, _get(ctx, "E")), "Invoice retrieved successfully")


# -- payment complements ------------------------------------------------------------------------------


@resource.op("GET", "/invoices/payment", "list_payment_complements")
def list_complements(ctx: Ctx):
    return _listing(ctx, "P")


@resource.op("GET", "/invoices/payment/{uuid}", "get_payment_complement")
def get_complement(ctx: Ctx):
    return ok(view(ctx, _get(ctx, "P")), "Payment complement retrieved successfully")


# -- files and cancellation -------------------------------------------------------------------------------


@resource.op("GET", "/invoices/{uuid}/files", "get_invoice_files")
def get_files(ctx: Ctx):
    doc = _get(ctx)
    kind = ctx.query.get("file_type")
    if kind not in (None, "", "pdf", "xml"):
        raise invalid("file_type must be pdf or xml (omit it for both)", "Invalid query parameter")
    urls = file_urls(ctx, doc)
    data = {kind: urls[kind]} if kind else urls
    return ok({"uuid": doc["uuid"], **data}, "Invoice files retrieved successfully")


def _needs_acceptance(doc: Doc) -> bool:
    """SAT: the receiver must accept the cancellation of an income CFDI over $1,000.00 MXN issued to a
    real RFC (público en general and extranjero are exempt)."""
    rfc = ((doc.get("client") or {}).get("tax_id") or "").upper()
    total_mxn = float(doc.get("total") or 0) * float(doc.get("exchange_rate") or 1)
    return (
        doc.get("invoice_type") == "I"
        and total_mxn > ACCEPTANCE_THRESHOLD
        and rfc not in {PUBLICO_GENERAL, EXTRANJERO}
    )


def _restore_parent_balance(ctx: Ctx, complement: Doc) -> None:
    payment = complement.get("payment") or {}
    parent = ctx.store.get(ctx.team, COLL, complement.get("invoice_id") or "")
    if parent is None:
        return
    parent["last_balance"] = round(float(parent.get("last_balance", 0)) + float(payment.get("amount", 0)), 2)
    parent["payment_complements"] = max(0, int(parent.get("payment_complements") or 0) - 1)
    parent["complement_uuids"] = [u for u in parent.get("complement_uuids", []) if u != complement["uuid"]]
    ctx.store.put(ctx.team, COLL, parent, id_field="uuid")


def cancel(ctx: Ctx, doc: Doc, body: dict[str, Any]) -> Doc:
    motive = body.get("motive")
    if motive not in _MOTIVES:
        raise invalid("motive is required: 01, 02, 03 or 04")
    substitution = body.get("substitution_uuid") or body.get("replacement")
    if motive == "01":
        if not substitution:
            raise invalid("substitution_uuid is required when motive is 01 (the UUID of the replacing CFDI)")
        if not UUID_RE.match(str(substitution)):
            raise invalid(f"substitution_uuid {substitution} is not a UUID")
        if str(substitution).upper() == doc["uuid"]:
            raise invalid("substitution_uuid must be the replacing invoice, not the cancelled one itself")
    elif substitution:
        raise invalid("substitution_uuid is only for motive 01")
    if doc.get("status") == "cancelled":
        raise conflict("Cannot cancel invoice", "Invoice is already cancelled", "resource_conflict")
    if int(doc.get("payment_complements") or 0) > 0:
        raise conflict("Cannot cancel invoice", "Invoice has dependent payment complements")
    if doc.get("invoice_type") == "P":
        _restore_parent_balance(ctx, doc)
    doc |= {
        "status": "cancelled",
        "cancellation_status": "pending_acceptance" if _needs_acceptance(doc) else "accepted",
        "cancelled_at": now(),
        "motive": motive,
        "substitution_uuid": str(substitution).upper() if substitution else None,
    }
    return ctx.store.put(ctx.team, COLL, doc, id_field="uuid")


@resource.op("DELETE", "/invoices/{uuid}", "cancel_invoice")
def cancel_invoice(ctx: Ctx):
    doc = cancel(ctx, _get(ctx), ctx.body or {})
    message = (
        "Cancellation requested; the receiver must accept it within 3 business days"
        if doc["cancellation_status"] == "pending_acceptance"
        else "Invoice cancelled successfully"
    )
    return ok(view(ctx, doc), message)


# -- demo data ----------------------------------------------------------------------------------------------


@resource.seeds
def seed(store: Store, team: str) -> None:
    """A paid (PUE) invoice for Juan Pérez and an unpaid PPD one for Acme (no complements yet)."""
    ctx = local_ctx(store, team)

    def backdate(doc: Doc, days: int) -> None:
        doc["created_at"] -= days * 86400
        doc["stamp"]["stamp_at"] = doc["created_at"]
        store.put(team, COLL, doc, id_field="uuid")

    try:
        pue = build_invoice(
            ctx,
            {
                "client": {"id": "client_juan_perez"},
                "items": [{"id": "service_consultoria", "quantity": 2}],
                "payment_form": "03",
                "payment_method": "PUE",
                "use": "G03",
                "metadata": {"demo": "pue"},
            },
            "I",
        )
        backdate(pue, 20)
        ppd = build_invoice(
            ctx,
            {
                "client": {"id": "client_acme"},
                "items": [{"id": "service_hosting", "quantity": 12}],
                "payment_form": "99",
                "payment_method": "PPD",
                "use": "G03",
                "metadata": {"demo": "ppd"},
            },
            "I",
        )
        backdate(ppd, 5)
    except ApiError:  # demo clients or services were changed in a persisted --db: no demo invoices
        pass


__all__ = ["add_payment_complement", "cancel", "resource", "seed"]
