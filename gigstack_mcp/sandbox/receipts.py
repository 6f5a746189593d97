"""Sandbox /receipts: sales receipts (recibos de venta) the customer turns into an invoice on the
autofactura portal until the period closes, stamped on request to the client or to público en general
(the receipt's own global-invoice information), and cancelled while not invoiced."""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import cfdi_math
from ..clock import MEXICO
from . import _invoicing, clients
from ._core import ApiError, Ctx, Resource, conflict, invalid, now, ok
from ._fiscal import EXTRANJERO, PUBLICO_GENERAL, fiscal_issues
from ._store import Doc, Store, new_id

resource = Resource("receipts")
COLL = "receipts"
MX = MEXICO
PERIODICITIES = ("day", "week", "two_weeks", "month", "two_months")
# receipt periodicity -> SAT c_Periodicidad of the global invoice
GLOBAL_PERIODICITY = {"day": "01", "week": "02", "two_weeks": "03", "month": "04", "two_months": "05"}
_PRIVATE = ("raw_items",)  # sandbox bookkeeping, not in API answers
_STATUS_SPELLING = {
    "canceled": "cancelled",
    "open": "pending",
    "completed": "invoiced",
    "stamped": "invoiced",
}


def priced(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    """Items, currency and totals computed exactly as an invoice's (the invoicing core does the math).
    Shared with payments."""
    items = [_invoicing.build_item(ctx, it, n) for n, it in enumerate(body.get("items") or [])]
    if not items:
        raise invalid("items must have at least one item")
    currency = _invoicing.check_currency(body.get("currency"))
    rate = body.get("exchange_rate")
    if currency != "MXN" and not rate:
        raise invalid(f"exchange_rate is required when currency is {currency}")
    totals = cfdi_math.totals(items)
    return {"items": items, "currency": currency, "exchange_rate": float(rate) if rate else 1.0} | {
        k: totals[k] for k in ("subtotal", "discount", "taxes", "total")
    }


def valid_until(created: int, periodicity: str) -> int:
    """The last second (Mexico City time) of the period the sale belongs to."""
    day = dt.datetime.fromtimestamp(created, MX).date()
    if periodicity == "day":
        last = day
    elif periodicity == "week":
        last = day + dt.timedelta(days=6 - day.weekday())
    else:
        months = 2 if periodicity == "two_months" else 1
        month = day.month + (day.month % 2 if months == 2 else 0)  # bimesters end in even months
        first_next = dt.date(day.year + month // 12, month % 12 + 1, 1)
        last = first_next - dt.timedelta(days=1)
        if periodicity == "two_weeks" and day.day <= 15:
            last = day.replace(day=15)
    end = dt.datetime.combine(last, dt.time(23, 59, 59), MX)
    return int(end.timestamp())


def _refresh(ctx: Ctx, doc: Doc) -> Doc:
    """A pending receipt whose period closed is expired (it goes into the period's global invoice)."""
    if doc.get("status") == "pending" and doc.get("validUntil", now()) < now():
        doc["status"] = "expired"
        ctx.store.put(ctx.team, COLL, doc)
    return doc


def _view(ctx: Ctx, doc: Doc) -> Doc:
    out = {k: v for k, v in doc.items() if k not in _PRIVATE}
    out["url"] = f"{getattr(ctx.sandbox, 'base_url', '')}/autofactura?id={doc['id']}"
    return out


def create(ctx: Ctx, body: dict[str, Any], client: Doc | None) -> Doc:
    """Store a pending receipt (used by POST /receipts and by payments with automation receipt)."""
    periodicity = body.get("periodicity") or "month"
    created = now()
    doc: Doc = {
        "id": new_id("receipt"),
        "object": "receipt",
        "status": "pending",
        "client": clients.summary(client) if client else None,
        **priced(ctx, body),
        "periodicity": periodicity,
        "payment_form": body.get("payment_form") or "01",
        "invoice_config": body.get("invoice_config"),
        "metadata": body.get("metadata") or {},
        "created": created,
        "created_at": created,
        "validUntil": valid_until(created, periodicity),
        "invoice": None,
        "livemode": False,
        "team": ctx.team,
        "raw_items": body["items"],  # stamping prices the items as sent (services, inclusive taxes)
    }
    return ctx.store.put(ctx.team, COLL, doc)


def _global_info(ctx: Ctx, receipt: Doc) -> dict[str, Any]:
    """InformacionGlobal for a receipt stamped to público en general: its own period."""
    day = dt.datetime.fromtimestamp(receipt["created"], MX)
    periodicity = GLOBAL_PERIODICITY[receipt.get("periodicity") or "month"]
    if periodicity == "05" and _invoicing._issuer(ctx)["tax_system"] != "621":
        periodicity = "04"  # bimestral is only for régimen 621 (CFDI40132)
    months = f"{13 + (day.month - 1) // 2}" if periodicity == "05" else f"{day.month:02d}"
    return {"periodicity": periodicity, "months": months, "year": day.year}


def ticket_lines(receipt: Doc) -> list[dict[str, Any]]:
    """A receipt on a global invoice (Guía de llenado del CFDI global, pp. 13-16): one concepto per
    ticket, ClaveProdServ 01010101, NoIdentificacion = the ticket (receipt id), Cantidad 1, ClaveUnidad
    ACT, no Unidad, Descripcion "Venta", ValorUnitario = the ticket's subtotal; one line per tax rate
    when a ticket mixes rates. A per-unit (Cuota) tax keeps the ticket's own lines, identified too."""
    items = receipt.get("items") or []
    if any(t.get("factor") == "Cuota" for it in items for t in it.get("taxes") or []):
        return [raw | {"sku": receipt["id"]} for raw in receipt.get("raw_items") or items]
    groups: dict[tuple[Any, ...], float] = {}
    for it in items:
        taxes = tuple((t["type"], t["rate"], t["factor"], t["withholding"]) for t in it.get("taxes") or [])
        key = (taxes, it.get("taxability") or "02")
        groups[key] = groups.get(key, 0.0) + float(it["amount"]) - float(it.get("discount") or 0)
    return [
        {
            "description": "Venta",
            "quantity": 1,
            "unit_price": round(base, 6),
            "product_key": "01010101",
            "unit_key": "ACT",
            "sku": receipt["id"],
            "taxability": taxability,
            "taxes": [{"type": k, "rate": r, "factor": f, "withholding": w} for k, r, f, w in taxes],
        }
        for (taxes, taxability), base in groups.items()
    ]


def _client_ref(ctx: Ctx, receipt: Doc, stamp_to: str, info: dict[str, Any]) -> dict[str, Any]:
    """The `client` of the invoice: the receipt's client, the customer's fiscal_information (found or
    created by RFC and updated with it), or público en general (national or foreign)."""
    issuer_zip = _invoicing._issuer(ctx)["zip"]
    base = ctx.store.get(ctx.team, clients.COLL, (receipt.get("client") or {}).get("id") or "") or {}
    if stamp_to != "client":
        foreign = stamp_to == "general_public_foreign"
        rfc = EXTRANJERO if foreign else PUBLICO_GENERAL
        name = "PUBLICO EN GENERAL"
        if foreign:
            name = info.get("legal_name") or base.get("legal_name") or "RESIDENTE EN EL EXTRANJERO"
        return {
            "name": "Público en general" if not foreign else name,
            "legal_name": name,
            "tax_id": rfc,
            "tax_system": "616",
            "use": "S01",
            # a foreign public's country is unknown: no ResidenciaFiscal (Anexo 20: conditional)
            "address": {"zip": issuer_zip} if foreign else {"zip": issuer_zip, "country": "MEX"},
            "search": {"on_key": "tax_id", "on_value": rfc, "update": True},
        }
    if not info:
        if not base:
            raise invalid(
                "stamp_to client needs fiscal_information (legal_name, tax_id, tax_system, zip): "
                "this receipt has no client"
            )
        if issues := fiscal_issues(base):
            raise _unstampable(f"Client {base['id']} fiscal data: {'; '.join(issues)}")
        return {"id": base["id"]}
    merged = {
        "legal_name": info.get("legal_name") or base.get("legal_name"),
        "tax_id": str(info.get("tax_id") or base.get("tax_id") or "").upper(),
        "tax_system": info.get("tax_system") or base.get("tax_system"),
        "address": {"zip": info.get("zip") or (base.get("address") or {}).get("zip"), "country": "MEX"},
    }
    if merged["tax_id"] in (PUBLICO_GENERAL, EXTRANJERO):
        raise invalid(
            f"tax_id {merged['tax_id']} is público en general: use stamp_to general_public_national"
        )
    if issues := fiscal_issues(merged):
        raise _unstampable(f"fiscal_information: {'; '.join(issues)}")
    if base.get("tax_id") == merged["tax_id"]:
        merged |= {"email": base.get("email"), "use": base.get("use")}
    search = {"on_key": "tax_id", "on_value": merged["tax_id"], "update": True}
    return {k: v for k, v in merged.items() if v is not None} | {"search": search}


def _unstampable(error: str) -> ApiError:
    return ApiError(422, "Cannot stamp receipt", error, "cfdi_service_error")


def stamp(ctx: Ctx, receipt: Doc, stamp_to: str, info: dict[str, Any], date_ms: int | None) -> Doc:
    """Invoice a receipt (PUE, its own items and payment form). Returns the stored invoice."""
    _refresh(ctx, receipt)
    status = receipt["status"]
    if status == "invoiced":
        uuid = (receipt.get("invoice") or {}).get("uuid")
        raise conflict("Cannot stamp receipt", f"Receipt {receipt['id']} is already invoiced ({uuid})")
    if status == "cancelled":
        raise conflict("Cannot stamp receipt", f"Receipt {receipt['id']} is cancelled")
    if status == "expired" and stamp_to == "client":
        raise conflict(
            "Cannot stamp receipt",
            f"Receipt {receipt['id']} expired (its period closed): it goes into the global invoice; "
            "stamp it to general_public_national",
        )
    date = None
    if date_ms is not None:
        date = date_ms // 1000
        if date > now() + 300 or date < now() - 72 * 3600:
            raise invalid("date (unix milliseconds) must be within the last 72 hours (SAT rule)")
    client_ref = _client_ref(ctx, receipt, stamp_to, info or {})
    config = receipt.get("invoice_config") or {}
    body = {
        "client": client_ref,
        "items": ticket_lines(receipt)
        if stamp_to == "general_public_national"
        else receipt.get("raw_items") or receipt["items"],
        "payment_method": "PUE",
        "payment_form": receipt.get("payment_form") or "01",
        "currency": receipt["currency"],
        "exchange_rate": receipt["exchange_rate"] if receipt["currency"] != "MXN" else None,
        "series": config.get("serie"),
        "folio_number": config.get("folio"),
        "use": "S01" if stamp_to != "client" else None,
        "global": _global_info(ctx, receipt) if stamp_to == "general_public_national" else None,
        "metadata": {"receipt_id": receipt["id"]},
    }
    invoice = _invoicing.build_invoice(ctx, {k: v for k, v in body.items() if v is not None}, "I")
    if date is not None:
        invoice["date"] = date
        ctx.store.put(ctx.team, _invoicing.COLL, invoice, id_field="uuid")
    receipt |= {
        "status": "invoiced",
        "stamp_to": stamp_to,
        "invoice": {k: invoice[k] for k in ("uuid", "series", "folio_number")},
        "invoice_id": invoice["uuid"],
        "invoiced_at": now(),
    }
    ctx.store.put(ctx.team, COLL, receipt)
    return invoice


def stamp_pending_for_client(ctx: Ctx, client: dict[str, Any]) -> dict[str, Any]:
    """Stamp every pending receipt of `client` to that client; failures are reported, not raised."""
    mine = [
        _refresh(ctx, d)
        for d in ctx.store.find(ctx.team, COLL, lambda d: (d.get("client") or {}).get("id") == client["id"])
    ]
    results: list[dict[str, Any]] = []
    for receipt in (d for d in mine if d["status"] == "pending"):
        try:
            invoice = stamp(ctx, receipt, "client", {}, None)
            results.append({"id": receipt["id"], "status": "invoiced", "invoice": invoice["uuid"]})
        except ApiError as exc:
            results.append({"id": receipt["id"], "status": "failed", "error": exc.error})
    failed = sum(r["status"] == "failed" for r in results)
    return {"stamped": len(results) - failed, "failed": failed, "remaining": failed, "results": results}


@resource.op("POST", "/clients/{id}/stamp-pending-receipts", "stamp_client_pending_receipts")
def stamp_pending_receipts(ctx: Ctx):
    doc = ctx.get_or_404(clients.COLL, ctx.params["id"], "Client")
    return ok(stamp_pending_for_client(ctx, doc), "Pending receipts processed")


@resource.op("GET", "/receipts", "list_receipts")
def list_receipts(ctx: Ctx):
    for _, doc in ctx.store.all(ctx.team, COLL):
        _refresh(ctx, doc)
    q = ctx.query
    status = _STATUS_SPELLING.get(q.get("status") or "", q.get("status"))
    client_id = q.get("client_id")

    def pred(d: Doc) -> bool:
        return (not status or d.get("status") == status) and (
            not client_id or (d.get("client") or {}).get("id") == client_id
        )

    envelope = json.loads(ctx.page(COLL, "Receipts retrieved successfully", pred).body)
    envelope["data"] = [_view(ctx, d) for d in envelope["data"]]
    return JSONResponse(envelope)


@resource.op("GET", "/receipts/{id}", "get_receipt")
def get_receipt(ctx: Ctx):
    doc = _refresh(ctx, ctx.get_or_404(COLL, ctx.params["id"], "Receipt"))
    return ok(_view(ctx, doc), "Receipt retrieved successfully")


@resource.op("POST", "/receipts", "create_receipt")
def create_receipt(ctx: Ctx):
    body = ctx.body
    client = clients.resolve(ctx, body["client"]) if body.get("client") else None
    return ok(_view(ctx, create(ctx, body, client)), "Receipt created successfully", 201)


@resource.op("POST", "/receipts/{id}/stamp", "stamp_receipt")
def stamp_receipt(ctx: Ctx):
    receipt = ctx.get_or_404(COLL, ctx.params["id"], "Receipt")
    body = ctx.body
    invoice = stamp(ctx, receipt, body["stamp_to"], body.get("fiscal_information") or {}, body.get("date"))
    data = _invoicing.view(ctx, invoice, created=True) | {"receipt_id": receipt["id"]}
    return ok(data, "Receipt stamped successfully", 201)


@resource.op("DELETE", "/receipts/{id}", "cancel_receipt")
def cancel_receipt(ctx: Ctx):
    doc = _refresh(ctx, ctx.get_or_404(COLL, ctx.params["id"], "Receipt"))
    if doc["status"] == "cancelled":
        return ok(_view(ctx, doc), "Receipt already cancelled")
    if doc["status"] == "invoiced":
        uuid = (doc.get("invoice") or {}).get("uuid")
        raise conflict(
            "Cannot cancel receipt",
            f"Receipt {doc['id']} is already invoiced ({uuid}): cancel that invoice instead",
        )
    doc |= {"status": "cancelled", "cancelled_at": now()}
    ctx.store.put(ctx.team, COLL, doc)
    return ok(_view(ctx, doc), "Receipt cancelled successfully")


# -- demo data -----------------------------------------------------------------------------------------

_SEED = [
    # (id, client or None, service, quantity, periodicity, payment_form)
    ("receipt_demo_juan", "client_juan_perez", "service_consultoria", 1, "month", "03"),
    ("receipt_demo_mostrador", None, "service_hosting", 2, "month", "01"),
]


@resource.seeds
def seed(store: Store, team: str) -> None:
    """Two pending receipts of the current month: one of a known client, one of an anonymous sale."""
    ctx = _invoicing.local_ctx(store, team)
    for rid, client_id, service, qty, periodicity, form in _SEED:
        client = store.get(team, clients.COLL, client_id) if client_id else None
        if client_id and client is None:
            continue
        body = {"items": [{"id": service, "quantity": qty}], "periodicity": periodicity, "payment_form": form}
        doc = create(ctx, body, client)
        store.delete(team, COLL, doc["id"])
        store.put(team, COLL, doc | {"id": rid})


# -- customer pages (what the `url` of a receipt and the `short_url` of a payment open) -------------------


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A bare HTML page for the sandbox's customer-facing links."""
    doc = (
        f"<!doctype html><html lang='es'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        "<style>body{font:16px system-ui;max-width:36em;margin:2em auto;padding:0 1em}"
        "td{padding:.2em .6em}input{display:block;margin:.2em 0 .8em;padding:.3em;width:100%}</style>"
        f"</head><body><h1>{escape(title)}</h1>{body}<p><small>gigstack sandbox</small></p></body></html>"
    )
    return HTMLResponse(doc, status)


def find_any_team(state: Any, coll: str, id: str) -> tuple[str, Doc] | None:
    """Customer links carry no API key: find the document's team from its (unique) id."""
    for team in state.store.teams():
        doc = state.store.get(team, coll, id)
        if doc is not None:
            return team, doc
    return None


def items_table(doc: Doc) -> str:
    rows = "".join(
        f"<tr><td>{i.get('quantity', 1):g} × {escape(str(i.get('description')))}</td>"
        f"<td>{i.get('amount', 0):,.2f}</td></tr>"
        for i in doc.get("items") or []
    )
    return (
        f"<table>{rows}<tr><td><b>Total</b></td><td><b>{doc.get('total', 0):,.2f} "
        f"{escape(str(doc.get('currency')))}</b></td></tr></table>"
    )


def page_routes(state: Any) -> list[Route]:
    """GET /autofactura?id=… shows the receipt and a form for the customer's fiscal data; POST stamps the
    invoice to them (as the self-invoice portal does)."""

    async def autofactura(request: Request) -> Response:
        rid = request.query_params.get("id", "")
        found = find_any_team(state, COLL, rid)
        if found is None:
            return page("Recibo no encontrado", f"<p>No hay un recibo {escape(rid)}.</p>", 404)
        team, receipt = found
        ctx = _invoicing.local_ctx(state.store, team, state)
        _refresh(ctx, receipt)
        error = ""
        if request.method == "POST":
            form = {k: v[0].strip() for k, v in parse_qs((await request.body()).decode()).items()}
            info = {k: form[k] for k in ("legal_name", "tax_id", "tax_system", "zip") if form.get(k)}
            try:
                stamp(ctx, receipt, "client", info, None)
            except ApiError as exc:
                error = f"<p style='color:#b00'>{escape(exc.message)}: {escape(exc.error)}</p>"
        head = (
            f"<p>Recibo {escape(rid)} · estado: <b>{escape(receipt['status'])}</b></p>{items_table(receipt)}"
        )
        if receipt["status"] == "invoiced":
            inv = state.store.get(team, _invoicing.COLL, receipt["invoice"]["uuid"])
            files = _invoicing.file_urls(ctx, inv)
            links = f"<a href='{escape(files['pdf'])}'>PDF</a> · <a href='{escape(files['xml'])}'>XML</a>"
            return page("Factura emitida", f"{head}<p>Folio fiscal {escape(inv['uuid'])}: {links}</p>")
        if receipt["status"] != "pending":
            return page("Recibo no facturable", head, 409)
        fields = "".join(
            f"<label>{label}<input name='{name}' required></label>"
            for name, label in (
                ("legal_name", "Razón social (como en la Constancia)"),
                ("tax_id", "RFC"),
                ("tax_system", "Régimen fiscal (p. ej. 612)"),
                ("zip", "Código postal fiscal"),
            )
        )
        form = f"<form method='post'>{fields}<button>Facturar</button></form>"
        return page("Autofactura", head + error + form, 422 if error else 200)

    return [Route("/autofactura", autofactura, methods=["GET", "POST"])]
