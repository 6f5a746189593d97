"""Invoices toolset: find, read, issue income and egress CFDIs, get their files, cancel them."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from .. import catalogs, cfdi_math
from ..client import DownloadError, NotFoundError
from ..context import Api
from ..guards import wiring
from ..guards.confirm import ConfirmationError, Token, check_token, current_caller, issue_token
from ..models import quoted, shown
from ..models.invoices import (
    MEXICO,
    MOTIVES,
    CancelInvoiceParams,
    ComplementPage,
    CreateInvoiceParams,
    FilesParams,
    Invoice,
    InvoiceFields,
    InvoiceFiles,
    InvoicePage,
    InvoiceRow,
    IssuedInvoice,
    ListComplementsParams,
    ListInvoicesParams,
    PaymentComplement,
    UuidParams,
)
from ..models.preview import InvoicePreview
from ..models.receipts import ListReceiptsParams, Receipt, ReceiptPage
from ..registry import Toolset, refuse

invoices = Toolset(
    "invoices", "Income/egress CFDI 4.0, payment complements: find, read, issue, files, cancel."
)

FOLIO_SCAN = 500  # invoices read at most when searching by folio (the API has no folio filter)


def _kept(p: ListInvoicesParams, row: InvoiceRow) -> bool:
    """What gigstack does not filter itself: the folio (it has no such filter) and payment_method (sent,
    but not honoured server-side yet, says gigstack's CLI in context.ts)."""
    return (p.folio_number is None or row.folio_number == p.folio_number) and (
        p.payment_method is None or row.payment_method == p.payment_method
    )


async def _list(api: Api, path: str, p: ListInvoicesParams) -> InvoicePage:
    if p.folio_number is None:
        page = await api.list(path, InvoicePage, p)
        kept = [r for r in page.data if _kept(p, r)]
        if len(kept) == len(page.data):
            return page
        more = "; next has more" if page.has_more else ""
        note = (
            f"{len(page.data) - len(kept)} invoices of this page were not {p.payment_method} and are left out "
            f"(gigstack does not filter by payment_method yet){more}"
        )
        return page.model_copy(update={"data": kept, "total_results": None, "note": note})
    hits: list[InvoiceRow] = []
    scanned, more, params = 0, False, p.model_copy(update={"limit": 100, "next": None})
    while True:  # page by page, so a metadata-filtered list pages by number as gigstack wants
        page = await api.list(path, InvoicePage, params)
        rows = page.data[: FOLIO_SCAN - scanned]
        scanned += len(rows)
        hits += [r for r in rows if _kept(p, r)]
        more = len(rows) < len(page.data) or bool(page.has_more and page.next)
        if scanned >= FOLIO_SCAN or not (page.has_more and page.next):
            break
        params = params.model_copy(update={"next": page.next})
    note = None
    if scanned >= FOLIO_SCAN and more:
        note = (
            f"Searched only the newest {FOLIO_SCAN} invoices for folio {p.folio_number}; "
            "add series or date_from/date_to to reach older ones."
        )
    return InvoicePage(data=hits[: p.limit], has_more=False, total_results=len(hits), note=note)


@invoices.read("Find income invoices")
async def list_income_invoices(api: Api, p: ListInvoicesParams) -> InvoicePage:
    """Find income invoices, newest first; PPD rows show the unpaid balance."""
    return await _list(api, "/invoices/income", p)


@invoices.read("Get an income invoice")
async def get_income_invoice(api: Api, p: UuidParams) -> Invoice:
    """Get an income invoice by UUID, with totals, balance and file links."""
    return await api.get(f"/invoices/income/{p.uuid}", Invoice)


async def _guard_income(api: Api, p: CreateInvoiceParams) -> list[str]:
    return await _guard_invoice(api, p, "I")


async def _guard_egress(api: Api, p: CreateInvoiceParams) -> list[str]:
    return await _guard_invoice(api, p, "E")


async def _guard_invoice(api: Api, p: CreateInvoiceParams, invoice_type: str) -> list[str]:
    if not p.preview:
        _check_preview(api, p, invoice_type)
    body = p.body()  # the receiver is read from the body that is sent (the client as it goes out)
    receiver = await wiring.receiver(api, body.get("client"))
    from ..guards.cfdi import check_invoice  # loaded on the first check, not at start-up

    warnings = wiring.rules(check_invoice, p, invoice_type, receiver, await wiring.issuer(api))
    if invoice_type == "I" and body.get("global"):
        warnings += await _receipts_left_pending(api, body)
    return warnings


def _in_period(created_at: int | None, glob: dict[str, Any]) -> bool:
    """A sale of the global invoice's months (01-12, or bimesters 13-18), in Mexico time."""
    if not created_at:
        return False
    day = datetime.fromtimestamp(created_at, MEXICO)
    code = int(glob["months"])
    months = {code} if code <= 12 else {2 * (code - 12) - 1, 2 * (code - 12)}
    return day.year == int(glob["year"]) and day.month in months


async def _receipts_left_pending(api: Api, body: dict[str, Any]) -> list[str]:
    """gigstack invoices its receipts itself (self-invoice, stamp_receipt, its end-of-month global
    invoice): a global invoice made here does not mark them invoiced. Naming a receipt on a line is
    refused (it would be invoiced twice); the period's receipts still open are a warning."""
    open_receipts: list[Receipt] = []
    for status in ("pending", "expired"):
        page = await api.list("/receipts", ReceiptPage, ListReceiptsParams(status=status, limit=100))
        open_receipts += page.data
    named = {i.get("sku") for i in body["items"]} & {r.id for r in open_receipts}
    if named:
        raise refuse(
            "RECEIPT-TWICE",
            f"items name receipts {', '.join(sorted(map(str, named)))} (sku): a global invoice made with "
            "create_income_invoice leaves them pending, so they would be invoiced twice. Invoice receipts "
            "with stamp_receipt stamp_to general_public_national (they end invoiced, the ticket on its line)",
            field="items.sku",
            value=", ".join(sorted(map(str, named))),
            allowed="no open receipt's id",
        )
    mine = [r for r in open_receipts if _in_period(r.created_at, body["global"])]
    if not mine:
        return []
    total = sum(r.total or 0 for r in mine)
    return [
        f"RECEIPTS-PENDING: {len(mine)} receipts of this period are not invoiced yet ({total:,.2f}); "
        "gigstack invoices them itself (self-invoice, stamp_receipt, or its end-of-month global invoice), "
        "so leave their sales out of this invoice"
    ]


# -- preview before stamping --------------------------------------------------------------------------


def _preview_args(api: Api, p: InvoiceFields, invoice_type: str) -> tuple[str, dict[str, Any]]:
    """What a preview token binds: the invoice type, the team and the exact body (canonical JSON of the
    validated arguments, so 2 and 2.0 are the same; the idempotency key is not part of the invoice, nor
    are preview and preview_token: local fields, not in the body). The operation keeps the name of the
    tool the preview once was, so tokens stay valid across the change."""
    body = {k: v for k, v in p.body().items() if k != "idempotency_key"}
    return f"preview_invoice:{invoice_type}", {"team": api.team, "body": body}


def _check_preview(api: Api, p: CreateInvoiceParams, invoice_type: str) -> Token | None:
    """With require_preview, a create needs the token of a preview of exactly this payload by this
    caller; without it, a token given is still checked. Raises GuardViolation: nothing is sent."""
    tool = _CREATE[invoice_type]
    if not p.preview_token:
        if api.state.settings.require_preview:
            raise refuse(
                "PREVIEW-REQUIRED",
                f"this server requires a preview before stamping: call {tool} with the same arguments "
                "and preview true, show the breakdown to the user, then call again without preview, "
                "plus its preview_token",
                field="preview_token",
                allowed=f"the preview_token of {tool} with these arguments and preview true",
            )
        return None
    operation, args = _preview_args(api, p, invoice_type)
    try:
        return check_token(
            api.state.confirm_secret, p.preview_token, operation, args, caller=current_caller()
        )
    except ConfirmationError as exc:
        why = str(exc).replace("confirmation_token", "preview_token")
        raise refuse(
            "PREVIEW-TOKEN",
            f"{why}; call {tool} with exactly these arguments and preview true, and show the user the "
            "new breakdown",
            field="preview_token",
            allowed=f"the preview_token of {tool} with these arguments and preview true, by this caller, "
            "unexpired",
        ) from None


_CREATE = {"I": "create_income_invoice", "E": "create_egress_invoice"}


def _body(api: Api, p: CreateInvoiceParams, invoice_type: str) -> tuple[dict[str, Any], str | None]:
    """The create's body and idempotency key. A previewed create's key comes from its verified preview
    token (its nonce), whatever idempotency_key says: one preview stamps one invoice, and sending it
    again returns that invoice (gigstack dedupes by key) instead of stamping another."""
    token = _check_preview(api, p, invoice_type)
    if token is None:
        return p.body(), p.idempotency_key
    key = "pv-" + hashlib.sha256(token.nonce.encode()).hexdigest()[:40]
    return p.body() | {"idempotency_key": key}, key


def _described(slug: str, code: str | None) -> str | None:
    row = catalogs.entry(slug, code) if code else None
    return f"{code} {row['description'].rstrip('.')}" if row else code


async def _services(api: Api, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services the items reference by id (an unknown id is a 404 tool error)."""
    client, found = await api.gigstack(), {}
    for sid in dict.fromkeys(i["id"] for i in items if i.get("id")):
        envelope = await client.get(f"/services/{sid}", team=api.team)
        found[sid] = (envelope.get("data") if isinstance(envelope, dict) else None) or {"id": sid}
    return found


SERVICE_SCAN = 500  # services read at most to find one by SKU (the API has no SKU filter)


async def _by_sku(api: Api, items: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """For each item with `search` (on_key sku), the service with that SKU; None when the line stands
    on its own fields (no search, or auto_create: gigstack makes the service from the line). No match
    without auto_create is refused, as gigstack would."""
    wanted = [i.get("search") for i in items]
    if not any(wanted):
        return [None] * len(items)
    rows = await api.collect("/services", max_items=SERVICE_SCAN)
    out: list[dict[str, Any] | None] = []
    for n, search in enumerate(wanted):
        hit = next((r for r in rows if search and str(r.get("sku")) == search["on_value"]), None)
        if search and hit is None and not search.get("auto_create"):
            raise refuse(
                "ITEM-SKU-NOT-FOUND",
                f"items.{n}.search: no service with sku {quoted(search['on_value'])}; set auto_create true to "
                "create it from this line, or give the line's own fields without search",
                field=f"items.{n}.search.on_value",
                value=search["on_value"],
                allowed="the sku of an existing service, or auto_create true",
            )
        out.append(hit)
    return out


def _abroad(receiver: dict[str, Any]) -> dict[str, Any]:
    """What the CFDI says of a receiver abroad (ResidenciaFiscal, NumRegIdTrib); nothing for a Mexican one."""
    country = (receiver.get("address") or {}).get("country")
    return {
        "country": country if country and country != "MEX" else None,
        "foreign_tax_id": receiver.get("foreign_tax_id"),
    }


async def _preview_income(api: Api, p: CreateInvoiceParams, warnings: list[str]) -> InvoicePreview:
    return await _preview(api, p, warnings, "I")


async def _preview_egress(api: Api, p: CreateInvoiceParams, warnings: list[str]) -> InvoicePreview:
    return await _preview(api, p, warnings, "E")


async def _preview(
    api: Api, p: CreateInvoiceParams, warnings: list[str], invoice_type: str
) -> InvoicePreview:
    """A create called with preview true (after its guard rails): the SAT checks and totals, reads only,
    and a preview_token bound to this caller, the invoice type and the exact body."""
    body = p.body()
    receiver = await wiring.receiver(api, body["client"]) or {}
    services, found = await _services(api, body["items"]), await _by_sku(api, body["items"])
    items = []
    for n, raw in enumerate(body["items"]):
        item = cfdi_math.inherit(services.get(raw.get("id") or "") or found[n], raw)
        if not item.get("description"):
            raise refuse(
                "ITEM-DESCRIPTION",
                f"items.{n}.description is required (or reference a service by id)",
                field=f"items.{n}.description",
                allowed=f"text, or items.{n}.id of a service",
            )
        try:
            items.append(cfdi_math.price_item(item, f"items.{n}"))
        except cfdi_math.MathError as exc:
            raise refuse("ITEM-AMOUNTS", str(exc), field=f"items.{n}") from None
    method = body.get("payment_method") or "PUE"
    form = body.get("payment_form") or ("99" if method == "PPD" else None)
    operation, args = _preview_args(api, p, invoice_type)
    token, expires = issue_token(
        api.state.confirm_secret, operation, args, api.state.settings.confirm_ttl, caller=current_caller()
    )
    return InvoicePreview.model_validate(
        {
            "invoice_type": invoice_type,
            "receiver": {
                "legal_name": receiver.get("legal_name") or receiver.get("name"),
                "tax_id": receiver.get("tax_id"),
                "tax_system": _described("regimen-fiscal", receiver.get("tax_system")),
                "zip": (receiver.get("address") or {}).get("zip"),
                **_abroad(receiver),
            },
            "items": items,
            **cfdi_math.totals(items),
            "currency": body.get("currency") or "MXN",
            "exchange_rate": body.get("exchange_rate"),
            "use": _described("uso-cfdi", body.get("use") or receiver.get("use") or "G03"),
            "payment_method": _described("metodo-pago", method),
            "payment_form": _described("forma-pago", form),
            "warnings": warnings or None,
            "preview_token": token,
            "expires_at": expires,
        }
    )


@invoices.write("Issue an income invoice", guard=_guard_income, rehearsal=_preview_income)
async def create_income_invoice(api: Api, p: CreateInvoiceParams) -> IssuedInvoice:
    """Stamp an income CFDI (factura). First call with preview true and show the user the breakdown; on
    their yes, call again without preview plus preview_token. PPD takes payment_form 99; receipts:
    stamp_receipt."""
    body, key = _body(api, p, "I")
    return await api.post("/invoices/income", IssuedInvoice, json=body, idempotency_key=key)


@invoices.read("Find egress invoices")
async def list_egress_invoices(api: Api, p: ListInvoicesParams) -> InvoicePage:
    """Find credit notes (egress), newest first."""
    return await _list(api, "/invoices/egress", p)


@invoices.read("Get an egress invoice")
async def get_egress_invoice(api: Api, p: UuidParams) -> Invoice:
    """Get a credit note (egress) by UUID."""
    return await api.get(f"/invoices/egress/{p.uuid}", Invoice)


@invoices.write("Issue a credit note", guard=_guard_egress, rehearsal=_preview_egress)
async def create_egress_invoice(api: Api, p: CreateInvoiceParams) -> IssuedInvoice:
    """Stamp a credit note: related_documents 01 to the invoice's UUID, use G02, PUE, forma 15 if it is
    unpaid, 17 compensación or 03 refund (never 99). Preview true first, as for create_income_invoice."""
    body, key = _body(api, p, "E")
    return await api.post("/invoices/egress", IssuedInvoice, json=body, idempotency_key=key)


@invoices.read("List payment complements")
async def list_payment_complements(api: Api, p: ListComplementsParams) -> ComplementPage:
    """Payment complements (REP), newest first; invoice_id (a PPD invoice's UUID): its payments."""
    return await api.list("/invoices/payment", ComplementPage, p)


@invoices.read("Get a payment complement")
async def get_payment_complement(api: Api, p: UuidParams) -> PaymentComplement:
    """Get a payment complement (REP) by UUID: amount, date, balances."""
    return await api.get(f"/invoices/payment/{p.uuid}", PaymentComplement)


@invoices.read("Get invoice PDF/XML")
async def get_invoice_files(api: Api, p: FilesParams) -> InvoiceFiles:
    """PDF and XML links of any invoice; include_content=true also returns the XML text and PDF."""
    files = await api.get(f"/invoices/{p.uuid}/files", InvoiceFiles, query=p.query())
    if not p.include_content:
        return files
    # Through the client: only gigstack's file hosts (or the sandbox's own origin), no redirects, capped.
    client, cap, notes = await api.gigstack(), api.state.settings.max_file_bytes, []
    try:
        if files.xml:
            raw, capped = await client.download(files.xml, cap)
            files.xml_content = raw.decode("utf-8", errors="replace")
            if capped:
                notes.append(f"XML cut at {cap // 1000} KB; the link has the whole file.")
        if files.pdf:
            raw, capped = await client.download(files.pdf, cap)
            if capped:
                notes.append(f"PDF is over {cap // 1000} KB, not attached; use the link.")
            else:
                files._pdf, files.pdf_bytes = raw, len(raw)
    except DownloadError as exc:
        notes.append(f"Could not download the files: {exc.message}. The links are in the result.")
    files.note = " ".join(notes) or None
    return files


class _Found(Invoice):
    invoice_type: str | None = None
    payment_complements: int | None = None


async def _find(api: Api, uuid: str) -> _Found:
    """An invoice of any type by UUID (the API reads each type at its own path)."""
    for kind in ("income", "egress"):
        try:
            return await api.get(f"/invoices/{kind}/{uuid}", _Found)
        except NotFoundError:
            continue
    return await api.get(f"/invoices/payment/{uuid}", _Found)


async def _preview_cancel(api: Api, p: CancelInvoiceParams) -> str:
    inv = await _find(api, p.uuid)
    kind = {"I": "income invoice", "E": "egress invoice", "P": "payment complement"}.get(
        inv.invoice_type or ""
    )
    who = (
        f"{quoted(inv.client.legal_name or inv.client.name)} (RFC {shown(inv.client.tax_id)})"
        if inv.client
        else "?"
    )
    text = (
        f"Cancel {kind or 'invoice'} {shown(inv.series, '')}-{inv.folio_number} (UUID {shown(inv.uuid)}) "
        f"to {who}, total {inv.total or 0:,.2f} {shown(inv.currency)}. Motive {p.motive}: {MOTIVES[p.motive]}."
    )
    if p.substitution_uuid:
        text += f" Replaced by UUID {p.substitution_uuid.upper()}."
    if inv.payment_complements:
        text += f" It has {inv.payment_complements} payment complement(s): cancel those first."
    return text + " The SAT cancellation cannot be undone."


async def _guard_cancel(api: Api, p: CancelInvoiceParams) -> list[str]:
    try:
        invoice = (await _find(api, p.uuid)).model_dump(exclude_none=True)
    except NotFoundError:
        invoice = None  # the preview reports the 404 itself
    from ..guards.cfdi import check_cancel  # loaded on the first check, not at start-up

    return wiring.rules(check_cancel, p.motive, p.substitution_uuid, invoice)


@invoices.destructive("Cancel an invoice", preview=_preview_cancel, guard=_guard_cancel)
async def cancel_invoice(api: Api, p: CancelInvoiceParams) -> Invoice:
    """Cancel a CFDI with the SAT (irreversible). Ask the motive; for 01 issue the replacement first
    (relationship 04)."""
    return await api.delete(f"/invoices/{p.uuid}", Invoice, json=p.body())
