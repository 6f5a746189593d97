"""Sandbox /payments: payment links (request), payments received (register), marking a link paid,
refunds and cancellation, with the automations gigstack runs when a payment succeeds (a PUE invoice, a
PPD invoice plus its payment complement, complements on existing PPD invoices, or a receipt)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import cfdi_math
from . import _invoicing, clients, receipts
from ._core import ApiError, Ctx, Resource, conflict, invalid, now, ok
from ._fiscal import fiscal_issues
from ._store import Doc, Store, new_id

resource = Resource("payments")
COLL = "payments"
INVOICES = _invoicing.COLL
OPEN = ("pending", "requires_payment_method", "processing", "failed")  # not collected yet
ALIASES = {
    "stamp_invoice": "pue_invoice",
    "payment": "pue_invoice",
    "payment_and_complement": "ppd_invoice_and_complement",
}
_STATUS_SPELLING = {"canceled": "cancelled"}
_PRIVATE = ("raw_items", "link", "related_invoices")  # sandbox bookkeeping, not in API answers


def _automation(body: dict[str, Any], default: str) -> str:
    value = body.get("automation_type") or default
    return ALIASES.get(value, value)


def _related(body: dict[str, Any]) -> list[str]:
    return [str(u).upper() for u in (body.get("invoices") or body.get("related_invoices") or [])]


def _view(ctx: Ctx, doc: Doc) -> Doc:
    """A payment as the API answers it: the link URL is made from the sandbox's current address."""
    out = {k: v for k, v in doc.items() if k not in _PRIVATE}
    if doc.get("link"):
        out["short_url"] = f"{getattr(ctx.sandbox, 'base_url', '')}/pay/{doc['id']}"
    return out


def _new(ctx: Ctx, body: dict[str, Any], client: Doc, status: str, automation: str) -> Doc:
    return {
        "id": new_id("payment"),
        "object": "payment",
        "status": status,
        "client": clients.summary(client),
        **receipts.priced(ctx, body),
        "payment_form": body.get("payment_form"),
        "automation_type": automation,
        "invoice_config": body.get("invoice_config"),
        "send_email": bool(body.get("send_email", False)),
        "emails": body.get("emails") or [],
        "invoices": [],
        "complements": [],
        "receipt": None,
        "refunds": [],
        "refunded_amount": 0.0,
        "payment_processor": "api",
        "metadata": body.get("metadata") or {},
        "created_at": now(),
        "succeeded_at": None,
        "livemode": False,
        "team": ctx.team,
    }


def _check_payment_form(form: str | None) -> None:
    if form == "99":
        raise invalid(
            "payment_form 99 (Por definir) is not a way of paying: give how the money was received, "
            "e.g. 03 transferencia, 01 efectivo, 04 tarjeta de crédito"
        )


def _cannot_stamp(client: Doc, issues: list[str]) -> ApiError:
    return ApiError(
        422,
        "Cannot stamp the invoice for this payment",
        f"Client {client['id']} fiscal data: {'; '.join(issues)}. Fix the client (update_client), or "
        "use automation_type receipt (the customer self-invoices) or none",
        "cfdi_service_error",
    )


def _ppd_plan(ctx: Ctx, payment: Doc, uuids: list[str]) -> list[tuple[Doc, float]]:
    """(invoice, amount) for each named PPD invoice, spending the payment total in order. Everything
    is checked before anything is stamped."""
    left = cfdi_math.dec(payment["total"])
    plan = []
    for uuid in uuids:
        inv = ctx.get_or_404(INVOICES, uuid, "Invoice")
        where = f"Invoice {inv.get('series', '')}-{inv.get('folio_number', '')} ({uuid})"
        if inv.get("invoice_type") != "I" or inv.get("payment_method") != "PPD":
            raise conflict(
                "Cannot register payment against invoice",
                f"{where} is not a PPD income invoice; complements are only for PPD invoices",
            )
        if inv.get("status") == "cancelled":
            raise conflict("Cannot register payment against invoice", f"{where} is cancelled")
        if (inv.get("client") or {}).get("id") != payment["client"]["id"]:
            raise conflict(
                "Cannot register payment against invoice",
                f"{where} belongs to client {(inv.get('client') or {}).get('id')}, not {payment['client']['id']}",
            )
        if inv.get("currency", "MXN") != payment["currency"]:
            raise conflict(
                "Cannot register payment against invoice",
                f"{where} is in {inv.get('currency')}, the payment in {payment['currency']}",
            )
        balance = cfdi_math.dec(inv.get("last_balance", inv.get("total", 0)))
        if balance <= 0:
            raise conflict("Cannot register payment against invoice", f"{where} is already fully paid")
        if left <= 0:
            raise invalid(
                f"the payment total {payment['total']} is used up before {where}; leave it out of invoices"
            )
        share = min(left, balance)
        plan.append((inv, float(share)))
        left -= share
    if left > 0:
        owed = float(cfdi_math.dec(payment["total"]) - left)
        raise conflict(
            "Cannot register payment against invoice",
            f"The payment total {payment['total']} {payment['currency']} is above the remaining balance "
            f"{cfdi_math.money(owed)} of the invoices given",
        )
    return plan


def _invoice_body(payment: Doc, raw_items: list[dict[str, Any]], method: str, form: str) -> dict[str, Any]:
    config = payment.get("invoice_config") or {}
    body = {
        "client": {"id": payment["client"]["id"]},
        "items": raw_items,
        "payment_method": method,
        "payment_form": form,
        "currency": payment["currency"],
        "exchange_rate": payment["exchange_rate"] if payment["currency"] != "MXN" else None,
        "series": config.get("serie"),
        "folio_number": config.get("folio"),
        "send_email": payment.get("send_email"),
        "emails": payment.get("emails"),
        "metadata": {"payment_id": payment["id"]},
    }
    return {k: v for k, v in body.items() if v is not None}


def succeed(ctx: Ctx, payment: Doc, form: str, date: int | None, raw_items: list[dict[str, Any]]) -> Doc:
    """Mark `payment` collected and run its automation (all checks first, then the stamping).
    `raw_items` are the items as the API received them (services and inclusive taxes unresolved)."""
    _check_payment_form(form)
    automation = payment.get("automation_type") or "none"
    related = payment.get("related_invoices") or []
    client = ctx.get_or_404(clients.COLL, payment["client"]["id"], "Client")
    issues = fiscal_issues(client)
    if automation in {"pue_invoice", "ppd_invoice_and_complement"} and not related and issues:
        raise _cannot_stamp(client, issues)
    plan = _ppd_plan(ctx, payment, related) if related else []
    when = date or now()
    if automation == "pue_invoice":
        inv = _invoicing.build_invoice(ctx, _invoice_body(payment, raw_items, "PUE", form), "I")
        payment["invoices"] = [inv["uuid"]]
    elif automation == "ppd_invoice_and_complement":
        if not plan:
            inv = _invoicing.build_invoice(ctx, _invoice_body(payment, raw_items, "PPD", "99"), "I")
            plan = [(inv, payment["total"])]
        complements = [_invoicing.add_payment_complement(ctx, inv, amt, form, when) for inv, amt in plan]
        payment["invoices"] = [inv["uuid"] for inv, _ in plan]
        payment["complements"] = [c["uuid"] for c in complements]
    elif automation == "receipt":
        body = {
            "items": raw_items,
            "currency": payment["currency"],
            "exchange_rate": payment["exchange_rate"],
            "payment_form": form,
            "invoice_config": payment.get("invoice_config"),
            "metadata": {"payment_id": payment["id"]},
        }
        receipt = receipts.create(ctx, body, client)
        payment["receipt"] = {"id": receipt["id"]}
    payment |= {"status": "succeeded", "payment_form": form, "succeeded_at": when}
    payment.pop("raw_items", None)
    return ctx.store.put(ctx.team, COLL, payment)


def _filters(ctx: Ctx):
    q = ctx.query
    status = _STATUS_SPELLING.get(q.get("status") or "", q.get("status"))
    email, tax_id = (q.get("email") or "").lower(), (q.get("tax_id") or "").upper()

    def pred(d: Doc) -> bool:
        c = d.get("client") or {}
        return (
            (not status or d.get("status") == status)
            and (not q.get("client_id") or c.get("id") == q.get("client_id"))
            and (not q.get("currency") or d.get("currency") == q.get("currency").upper())
            and (not email or str(c.get("email") or "").lower() == email)
            and (not tax_id or str(c.get("tax_id") or "").upper() == tax_id)
        )

    return pred


@resource.op("GET", "/payments", "listPayments")
def list_payments(ctx: Ctx):
    envelope = json.loads(ctx.page(COLL, "Payments retrieved successfully", _filters(ctx)).body)
    envelope["data"] = [_view(ctx, d) for d in envelope["data"]]
    return JSONResponse(envelope)


@resource.op("GET", "/payments/{id}", "getPayment")
def get_payment(ctx: Ctx):
    return ok(_view(ctx, ctx.get_or_404(COLL, ctx.params["id"], "Payment")), "Payment retrieved successfully")


@resource.op("POST", "/payments/request", "requestPayment")
def request_payment(ctx: Ctx):
    body = ctx.body
    automation = _automation(body, "ppd_invoice_and_complement" if _related(body) else "none")
    if _related(body) and automation != "ppd_invoice_and_complement":
        raise invalid(
            f"invoices (PPD invoices to pay) go with automation_type ppd_invoice_and_complement, not {automation}"
        )
    client = clients.resolve(ctx, body.get("client"))
    doc = _new(ctx, body, client, "requires_payment_method", automation)
    doc |= {
        "link": True,
        "allowed_payment_methods": body.get("allowed_payment_methods") or ["card", "bank"],
        "raw_items": body["items"],  # the automation stamps from the items as sent, once paid
        "related_invoices": _related(body),  # PPD invoices it pays: complements once paid
    }
    ctx.store.put(ctx.team, COLL, doc)
    return ok(_view(ctx, doc), "Payment request created successfully", 201)


@resource.op("POST", "/payments/register", "registerPayment")
def register_payment(ctx: Ctx):
    body = ctx.body
    _check_payment_form(body.get("payment_form"))
    related = _related(body)
    automation = _automation(body, "ppd_invoice_and_complement" if related else "pue_invoice")
    if related and automation != "ppd_invoice_and_complement":
        raise invalid(
            f"invoices (PPD invoices to pay) go with automation_type ppd_invoice_and_complement, not {automation}"
        )
    client = clients.resolve(ctx, body.get("client"))
    doc = _new(ctx, body, client, "processing", automation)
    doc["related_invoices"] = related
    doc = succeed(ctx, doc, body["payment_form"], None, body["items"])
    return ok(_view(ctx, doc), "Payment registered successfully", 201)


@resource.op("POST", "/payments/{id}/paid", "markPaymentPaid")
def mark_paid(ctx: Ctx):
    doc = ctx.get_or_404(COLL, ctx.params["id"], "Payment")
    if doc["status"] not in OPEN:
        raise conflict("Cannot mark payment as paid", f"Payment {doc['id']} is {doc['status']}")
    date = ctx.body.get("date")
    if date is not None and date > now() + 300:
        raise invalid("date must not be in the future")
    doc = succeed(ctx, doc, ctx.body["payment_form"], date, doc.get("raw_items") or doc["items"])
    return ok(_view(ctx, doc), "Payment marked as paid")


@resource.op("POST", "/payments/{id}/refund", "refundPayment")
def refund_payment(ctx: Ctx):
    doc = ctx.get_or_404(COLL, ctx.params["id"], "Payment")
    if doc["status"] == "refunded":
        raise conflict("Cannot refund payment", f"Payment {doc['id']} is already fully refunded")
    if doc["status"] != "succeeded":
        raise conflict(
            "Cannot refund payment",
            f"Payment {doc['id']} is {doc['status']}: only a collected (succeeded) payment can be refunded; "
            "cancel a pending one instead",
        )
    body = ctx.body
    external = bool(body.get("external_processor_refund", False))
    if external and doc.get("payment_processor") in (None, "api"):
        raise conflict(
            "Cannot refund payment",
            f"Payment {doc['id']} was registered by API, not collected by a payment processor: return the "
            "money yourself and call again with external_processor_refund false",
        )
    refundable = cfdi_math.dec(doc["total"]) - cfdi_math.dec(doc.get("refunded_amount") or 0)
    amount = cfdi_math.dec(body["amount"])
    if amount > refundable:
        raise invalid(f"amount {body['amount']} is above the refundable {refundable:.2f}")
    refund = {
        "id": new_id("refund"),
        "amount": cfdi_math.money(amount),
        "reason": body.get("reason"),
        "external_processor_refund": external,
        "created_at": now(),
    }
    doc["refunds"] = [*doc.get("refunds", []), refund]
    doc["refunded_amount"] = cfdi_math.money(cfdi_math.dec(doc.get("refunded_amount") or 0) + amount)
    if amount == refundable:
        doc["status"] = "refunded"
    ctx.store.put(ctx.team, COLL, doc)
    return ok(_view(ctx, doc), "Payment refunded successfully")


@resource.op("DELETE", "/payments/{id}", "cancelPayment")
def cancel_payment(ctx: Ctx):
    doc = ctx.get_or_404(COLL, ctx.params["id"], "Payment")
    if doc["status"] == "cancelled":
        return ok(_view(ctx, doc), "Payment already cancelled")
    if doc["status"] == "succeeded":
        raise conflict(
            "Cannot cancel payment",
            f"Payment {doc['id']} already succeeded (money was collected): refund it instead",
        )
    if doc["status"] not in ("pending", "requires_payment_method"):
        raise conflict("Cannot cancel payment", f"Payment {doc['id']} is {doc['status']}")
    doc |= {"status": "cancelled", "cancelled_at": now()}
    ctx.store.put(ctx.team, COLL, doc)
    return ok(_view(ctx, doc), "Payment cancelled successfully")


# -- demo data -----------------------------------------------------------------------------------------

_SEED = [
    # (id, client, service, quantity, status, payment_form, processor)
    ("payment_demo_transfer", "client_juan_perez", "service_consultoria", 2, "succeeded", "03", "api"),
    ("payment_demo_card", "client_acme", "service_hosting", 1, "succeeded", "04", "stripe"),
    ("payment_demo_link", "client_acme", "service_consultoria", 1, "requires_payment_method", None, "api"),
]


def seed(store: Store, team: str) -> None:
    """Two collected payments (one by transfer, one by card through Stripe) and an open payment link.
    No automation ran on them, so they hold no invoices."""
    ctx = _invoicing.local_ctx(store, team)
    for pid, client_id, service, qty, status, form, processor in _SEED:
        client = store.get(team, clients.COLL, client_id)
        if client is None:
            continue
        body = {"items": [{"id": service, "quantity": qty}], "payment_form": form}
        doc = _new(ctx, body, client, status, "none") | {"id": pid, "payment_processor": processor}
        if status == "succeeded":
            doc["succeeded_at"] = doc["created_at"]
        else:
            doc |= {"link": True, "allowed_payment_methods": ["card", "bank"], "raw_items": body["items"]}
        store.put(team, COLL, doc)


# -- the payment link page (what `short_url` opens) ---------------------------------------------------------


def page_routes(state: Any) -> list[Route]:
    """GET /pay/{id} shows what is being charged; POST pays it by card, as a customer would through the
    payment processor (status succeeded, processor stripe, the payment's automation runs)."""

    async def pay(request: Request) -> Response:
        pid = request.path_params["id"]
        found = receipts.find_any_team(state, COLL, pid)
        if found is None:
            return receipts.page("Cobro no encontrado", f"<p>No hay un cobro {escape(pid)}.</p>", 404)
        team, doc = found
        ctx = _invoicing.local_ctx(state.store, team, state)
        error = ""
        if request.method == "POST" and doc["status"] in OPEN:
            try:
                doc = succeed(
                    ctx, doc | {"payment_processor": "stripe"}, "04", None, doc.get("raw_items") or []
                )
            except ApiError as exc:
                error = f"<p style='color:#b00'>{escape(exc.message)}: {escape(exc.error)}</p>"
        who = (doc.get("client") or {}).get("legal_name") or (doc.get("client") or {}).get("name") or ""
        head = f"<p>{escape(who)} · estado: <b>{escape(doc['status'])}</b></p>{receipts.items_table(doc)}"
        if doc["status"] in OPEN:
            button = "<form method='post'><button>Pagar con tarjeta (simulado)</button></form>"
            return receipts.page("Pagar", head + error + button, 422 if error else 200)
        return receipts.page("Cobro", head)

    return [Route("/pay/{id}", pay, methods=["GET", "POST"])]
