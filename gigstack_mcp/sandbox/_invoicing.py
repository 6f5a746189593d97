"""Building stamped CFDIs in the sandbox: items (service references, inclusive taxes), tax totals,
series/folios, PPD balances and payment complements (type P), and the signed file URLs. Shared by
invoices.py, payments.py and receipts.py, so every invoice the sandbox holds is built the same way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid as uuidlib
from datetime import datetime
from typing import Any, Literal

from .. import catalogs, cfdi_math
from ..cfdi_math import dec, money
from ..clock import MEXICO  # the issuer's local date decides the year
from ..sat import global_year_range
from . import clients
from ._core import Ctx, conflict, invalid, now
from ._fiscal import RFC_RE, ZIP_RE
from ._store import Doc, Store, new_id

COLL = "invoices"
SERIES_COLL = "series"
InvoiceType = Literal["I", "E", "P"]
DEFAULT_SERIES = {"I": "A", "E": "E", "P": "P"}
_SETTINGS_SERIES = {"I": "income", "E": "credit_note", "P": "complements"}  # team settings.default_series


def local_ctx(store: Store, team: str, sandbox: Any = None) -> Ctx:
    """A Ctx with no HTTP request, for seeding and for helpers that run outside a handler."""
    return Ctx(request=None, store=store, team=team, body=None, sandbox=sandbox, account=team)  # type: ignore[arg-type]


# -- series and folios -------------------------------------------------------------------------------


def _default_series(ctx: Ctx, invoice_type: InvoiceType) -> str:
    team = ctx.store.get(ctx.team, "teams", ctx.team) or {}
    configured = ((team.get("settings") or {}).get("default_series") or {}).get(
        _SETTINGS_SERIES[invoice_type]
    ) or {}
    return configured.get("serie") or configured.get("series") or DEFAULT_SERIES[invoice_type]


def next_folio(ctx: Ctx, series: str, folio: int | None = None) -> int:
    """The folio for an invoice in `series` (test mode): the series doc's `test` counter, created if
    missing. An explicit folio is used as given and moves the counter past it."""
    doc_id = f"series_{series}"
    doc = ctx.store.get(ctx.team, SERIES_COLL, doc_id) or {
        "id": doc_id,
        "series": series,
        "live": 1,
        "test": 1,
        "created_at": now(),
    }
    current = int(doc.get("test") or 1)
    used = folio if folio is not None else current
    doc["test"] = max(current, used + 1)
    ctx.store.put(ctx.team, SERIES_COLL, doc)
    return used


# -- items and taxes -----------------------------------------------------------------------------------


def _service_for(ctx: Ctx, item: dict[str, Any]) -> Doc | None:
    if item.get("id"):
        return ctx.get_or_404("services", item["id"], "Service")
    search = item.get("search") or {}
    if search.get("on_value"):
        key = search.get("on_key") or "sku"
        hits = ctx.store.find(ctx.team, "services", lambda d: str(d.get(key)) == str(search["on_value"]))
        if hits:
            return hits[0]
        if search.get("auto_create"):
            doc = {k: item[k] for k in cfdi_math.ITEM_FIELDS if k in item}
            doc |= {key: search["on_value"], "id": new_id("service"), "created_at": now(), "livemode": False}
            doc |= {"team": ctx.team, "metadata": {}}
            return ctx.store.put(ctx.team, "services", doc)
        raise invalid(f"no service with {key} = {search['on_value']}", "Service not found")
    return None


def _check_third_party(third: dict[str, Any], where: str) -> None:
    """ACuentaTerceros is checked like a receptor: RFC shape, CFDI 4.0 régimen, 5-digit zip."""
    rfc = str(third.get("tax_id") or "").upper()
    if not RFC_RE.match(rfc):
        raise invalid(f"{where}.tax_id {rfc or '(missing)'} is not a valid RFC")
    if not third.get("legal_name"):
        raise invalid(f"{where}.legal_name is required (NombreACuentaTerceros)")
    if str(third.get("tax_system")) not in catalogs.codes("regimen_fiscal"):
        raise invalid(f"{where}.tax_system {third.get('tax_system')} is not a CFDI 4.0 régimen fiscal")
    if not ZIP_RE.match(str(third.get("zip") or "")):
        raise invalid(f"{where}.zip {third.get('zip')} must be a 5-digit postal code")


def build_item(ctx: Ctx, raw: dict[str, Any], index: int) -> dict[str, Any]:
    """One concepto: service fields inherited (item fields win), amounts and taxes from cfdi_math."""
    where = f"items.{index}"
    if raw.get("third_party") is not None:
        _check_third_party(raw["third_party"], f"{where}.third_party")
    item = cfdi_math.inherit(_service_for(ctx, raw), raw)
    if not item.get("description"):
        raise invalid(f"{where}.description is required (or reference a service by id)")
    try:
        return cfdi_math.price_item(item, where)
    except cfdi_math.MathError as exc:
        raise invalid(str(exc)) from None


def check_currency(value: Any) -> str:
    """Moneda must be a c_Moneda code (the PAC refuses e.g. "DLS" with CFDI40113)."""
    currency = str(value or "MXN").upper()
    if currency not in catalogs.codes("moneda"):
        raise invalid(f"currency {currency} is not in the SAT catalog c_Moneda (e.g. MXN, USD, EUR)")
    return currency


# -- invoices ----------------------------------------------------------------------------------------


def _issuer(ctx: Ctx) -> dict[str, Any]:
    team = ctx.store.get(ctx.team, "teams", ctx.team) or {}
    return {
        "legal_name": team.get("legal_name") or "DEMO SANDBOX SA DE CV",
        "tax_id": team.get("tax_id") or "DSA200101AB8",
        "tax_system": team.get("tax_system") or "601",
        "zip": (team.get("address") or {}).get("zip") or "64000",
    }


def _stamp() -> dict[str, Any]:
    return {
        "stamp_at": now(),
        "sello": base64.b64encode(secrets.token_bytes(96)).decode(),
        "sat_cert_number": "30001000000500003416",
        "cert_number": "30001000000500003421",
    }


def new_uuid() -> str:
    return str(uuidlib.uuid4()).upper()


def _check_related(ctx: Ctx, body: dict[str, Any], invoice_type: InvoiceType) -> list[dict[str, Any]]:
    related = body.get("related_documents") or []
    for n, rel in enumerate(related):
        docs = [str(d).upper() for d in rel.get("documents") or []]
        rel["documents"] = docs
        if invoice_type == "E" and rel.get("relationship") == "01":
            for d in docs:
                parent = ctx.store.get(ctx.team, COLL, d)
                if parent is None or parent.get("invoice_type") != "I":
                    raise invalid(
                        f"related_documents.{n}: {d} is not an income invoice of this team "
                        "(relationship 01 credits an income CFDI)"
                    )
    return related


def _check_global_year(glob: dict[str, Any] | None) -> None:
    """CFDI40136, by the same rule as the guard rails (gigstack_mcp.sat)."""
    if not glob or glob.get("year") is None:
        return
    today = datetime.fromtimestamp(now(), MEXICO).date()
    low, high = global_year_range(today)
    if not low <= int(glob["year"]) <= high:
        raise invalid(
            f"global.year {glob['year']} must be the current year or up to 5 before it ({low}-{high}) "
            "(SAT CFDI40136)"
        )


def build_invoice(ctx: Ctx, body: dict[str, Any], invoice_type: InvoiceType) -> Doc:
    """Create, stamp and store an invoice (coll "invoices", keyed by uuid). Returns the stored doc
    (status "valid"; `view(..., created=True)` is the create response)."""
    raw_items = body.get("items") or []
    if not raw_items:
        raise invalid("items must have at least one item")
    client = clients.resolve(ctx, body.get("client"))
    items = [build_item(ctx, it, n) for n, it in enumerate(raw_items)]
    currency = check_currency(body.get("currency"))
    rate = body.get("exchange_rate")
    if currency not in {"MXN", "XXX"} and not rate:
        raise invalid(f"exchange_rate is required when currency is {currency}")
    method = body.get("payment_method") or "PUE"
    _check_global_year(body.get("global"))
    series = body.get("series") or _default_series(ctx, invoice_type)
    related = _check_related(ctx, body, invoice_type)
    totals = cfdi_math.totals(items)
    t = now()
    doc: Doc = {
        "uuid": new_uuid(),
        "object": "invoice",
        "invoice_type": invoice_type,
        "status": "valid",
        "series": series,
        "folio_number": next_folio(ctx, series, body.get("folio_number")),
        "client": clients.summary(client),
        "issuer": _issuer(ctx),
        "items": items,
        **totals,
        "currency": currency,
        "exchange_rate": float(rate) if rate else 1.0,
        "payment_method": method,
        "payment_form": body.get("payment_form") or ("99" if method == "PPD" else "03"),
        "use": body.get("use") or client.get("use") or "G03",
        "exports": body.get("exports") or "01",
        "global": body.get("global"),
        "related_documents": related,
        "automation_type": body.get("automation_type"),
        "emails": body.get("emails") or [],
        "send_email": bool(body.get("send_email", False)),
        "metadata": body.get("metadata") or {},
        # stored as sent (gigstack-api.md §3.4); the PDF shows the notes
        "complements": body.get("complements") or [],
        "addenda": body.get("addenda"),
        "invoice_pdf_notes": body.get("invoice_pdf_notes"),
        "return_files_urls": body.get("return_files_urls"),
        "created_at": t,
        "livemode": False,
        "team": ctx.team,
        "stamp": _stamp(),
        "cancellation_status": None,
    }
    if method == "PPD":
        doc["last_balance"] = doc["total"]
        doc["payment_complements"] = 0
    return ctx.store.put(ctx.team, COLL, doc, id_field="uuid")


def add_payment_complement(
    ctx: Ctx, invoice: Doc, amount: float, payment_form: str, date: int | None = None
) -> Doc:
    """Stamp a type-P complement (REP) for a payment to a PPD invoice and lower its balance."""
    if invoice.get("payment_method") != "PPD":
        raise conflict(
            "Cannot create payment complement",
            f"Invoice {invoice['uuid']} is PUE (already paid); complements are only for PPD invoices",
        )
    if invoice.get("status") == "cancelled":
        raise conflict("Cannot create payment complement", f"Invoice {invoice['uuid']} is cancelled")
    paid = dec(amount)
    balance = dec(invoice.get("last_balance", invoice.get("total", 0)))
    if paid <= 0:
        raise invalid("amount must be greater than 0")
    if paid > balance:
        raise conflict(
            "Cannot create payment complement",
            f"Amount {money(paid)} is above the invoice's remaining balance {money(balance)}",
        )
    if str(payment_form) == "99":
        raise invalid("payment_form of a payment cannot be 99 (Por definir)")
    installment = int(invoice.get("payment_complements") or 0) + 1
    series = _default_series(ctx, "P")
    remaining = money(balance - paid)
    doc: Doc = {
        "uuid": new_uuid(),
        "object": "invoice",
        "invoice_type": "P",
        "status": "valid",
        "series": series,
        "folio_number": next_folio(ctx, series),
        "client": invoice["client"],
        "issuer": invoice.get("issuer") or _issuer(ctx),
        "items": [
            {
                "description": "Pago",
                "quantity": 1.0,
                "unit_price": 0.0,
                "amount": 0.0,
                "discount": 0.0,
                "product_key": "84111506",
                "unit_key": "ACT",
                "taxability": "01",
                "taxes": [],
            }
        ],
        "subtotal": 0.0,
        "discount": 0.0,
        "transferred_taxes": 0.0,
        "withheld_taxes": 0.0,
        "taxes": 0.0,
        "total": 0.0,
        "currency": "XXX",
        "use": "CP01",
        "exports": "01",
        "invoice_id": invoice["uuid"],
        "related_documents": [],
        "payment": {
            "amount": money(paid),
            "payment_form": str(payment_form),
            "date": date or now(),
            "currency": invoice.get("currency", "MXN"),
            "exchange_rate": invoice.get("exchange_rate", 1.0),
            "invoice_uuid": invoice["uuid"],
            "installment": installment,
            "previous_balance": money(balance),
            "remaining_balance": remaining,
        },
        "metadata": {},
        "created_at": now(),
        "livemode": False,
        "team": ctx.team,
        "stamp": _stamp(),
        "cancellation_status": None,
    }
    ctx.store.put(ctx.team, COLL, doc, id_field="uuid")
    invoice["last_balance"] = remaining
    invoice["payment_complements"] = installment
    invoice["complement_uuids"] = [*invoice.get("complement_uuids", []), doc["uuid"]]
    ctx.store.put(ctx.team, COLL, invoice, id_field="uuid")
    return doc


# -- files ---------------------------------------------------------------------------------------------


def file_sig(secret: str, team: str, uuid: str) -> str:
    """HMAC of team/uuid: file URLs cannot be guessed from a UUID alone."""
    return hmac.new(secret.encode(), f"{team}/{uuid}".encode(), hashlib.sha256).hexdigest()[:32]


def file_urls(ctx: Ctx, invoice: Doc) -> dict[str, str]:
    sandbox = ctx.sandbox
    base = getattr(sandbox, "base_url", "") or ""
    sig = file_sig(getattr(sandbox, "files_secret", ""), ctx.team, invoice["uuid"])
    root = f"{base}/files/{ctx.team}/{invoice['uuid']}"
    return {"pdf": f"{root}.pdf?sig={sig}", "xml": f"{root}.xml?sig={sig}"}


def view(ctx: Ctx, doc: Doc, *, created: bool = False) -> Doc:
    """An invoice as the API answers it: the stored doc plus file URLs (status "stamped" on create)."""
    out = dict(doc)
    if created:
        out["status"] = "stamped"
    # The sandbox links the files on every answer, unless a create asked for none (return_files_urls false)
    if ctx.sandbox is not None and not (created and doc.get("return_files_urls") is False):
        out["files"] = file_urls(ctx, doc)
    return out
