"""Receipts toolset: sales receipts the customer self-invoices, stamping them, cancelling them."""

from __future__ import annotations

from ..context import Api
from ..guards import wiring
from ..models import quoted, shown
from ..models.clients import ClientIdParams, PendingReceiptsResult
from ..models.receipts import (
    CreateReceiptParams,
    ListReceiptsParams,
    Receipt,
    ReceiptIdParams,
    ReceiptInvoice,
    ReceiptPage,
    StampReceiptParams,
)
from ..registry import Toolset, refuse

receipts = Toolset("receipts", "Receipts: sales tickets customers self-invoice; stamp or cancel them.")


@receipts.read("List receipts")
async def list_receipts(api: Api, p: ListReceiptsParams) -> ReceiptPage:
    """List receipts, newest first."""
    return await api.list("/receipts", ReceiptPage, p)


@receipts.read("Get a receipt")
async def get_receipt(api: Api, p: ReceiptIdParams) -> Receipt:
    """Get one receipt: status, self-invoice url, its invoice."""
    return await api.get(f"/receipts/{p.id}", Receipt)


async def _guard_create(api: Api, p: CreateReceiptParams) -> list[str]:
    if p.payment_form == "99":
        raise refuse(
            "PAID-FORMA-99",
            "a receipt is a paid sale: payment_form 99 (por definir) does not apply",
            field="payment_form",
            value="99",
            allowed="how it was paid (c_FormaPago), e.g. 01, 03, 04",
        )
    from ..guards.cfdi import check_receipt  # loaded on the first check, not at start-up

    return wiring.rules(check_receipt, p, await wiring.issuer(api))


@receipts.write("Create a receipt", guard=_guard_create)
async def create_receipt(api: Api, p: CreateReceiptParams) -> Receipt:
    """A sales receipt for a customer whose fiscal data is unknown: they self-invoice at `url`, else it
    goes into the global invoice."""
    return await api.post("/receipts", Receipt, json=p.body(), idempotency_key=p.idempotency_key)


async def _guard_stamp(api: Api, p: StampReceiptParams) -> list[str]:
    if p.stamp_to != "client":
        if p.fiscal_information:
            raise refuse(
                "RECEIPT-FISCAL-INFO",
                "fiscal_information goes with stamp_to client",
                field="stamp_to",
                value=p.stamp_to,
                allowed="client (with fiscal_information)",
            )
        return []
    r = await api.get(f"/receipts/{p.id}", Receipt)
    client_id = r.client.id if r.client else None
    if not client_id and not p.fiscal_information:
        raise refuse(
            "RECEIPT-NO-CLIENT",
            f"receipt {r.id} has no client: ask for the customer's fiscal_information (legal_name, tax_id, "
            "tax_system, zip) or stamp it to general_public_national",
            field="fiscal_information",
            allowed="legal_name, tax_id, tax_system, zip",
        )
    receiver = await wiring.receiver(api, {"id": client_id} if client_id else None)
    from ..guards.cfdi import check_receipt_stamp  # loaded on the first check, not at start-up

    return wiring.rules(check_receipt_stamp, p, receiver, await wiring.issuer(api))


@receipts.write("Stamp a receipt", guard=_guard_stamp)
async def stamp_receipt(api: Api, p: StampReceiptParams) -> ReceiptInvoice:
    """Stamp a receipt (it ends invoiced): to its client (or fiscal_information) or the general
    public. Confirm the receiver first."""
    return await api.post(f"/receipts/{p.id}/stamp", ReceiptInvoice, json=p.body())


async def _preview_cancel(api: Api, p: ReceiptIdParams) -> str:
    r = await api.get(f"/receipts/{p.id}", Receipt)
    who = quoted(r.client.legal_name or r.client.name) if r.client else "no client"
    return (
        f"Cancel receipt {shown(r.id)} ({who}, {r.total or 0:,.2f} {shown(r.currency)}, {shown(r.status)}); "
        "its self-invoice "
        "link stops working and it stays out of the global invoice."
    )


async def _guard_cancel(api: Api, p: ReceiptIdParams) -> list[str]:
    r = await api.get(f"/receipts/{p.id}", Receipt)
    if r.status == "invoiced":
        uuid = (r.invoice or {}).get("uuid")
        raise refuse(
            "RECEIPT-INVOICED",
            f"receipt {r.id} is already invoiced ({uuid}): cancel that invoice instead",
            field="id",
            value=r.id,
            allowed="a receipt not invoiced yet",
        )
    return []


@receipts.destructive("Cancel a receipt", preview=_preview_cancel, guard=_guard_cancel)
async def cancel_receipt(api: Api, p: ReceiptIdParams) -> Receipt:
    """Cancel a receipt not yet invoiced."""
    return await api.delete(f"/receipts/{p.id}", Receipt)


# In this toolset, not clients: it stamps receipts, and is only useful where receipts are issued.
@receipts.write("Stamp pending receipts")
async def stamp_client_pending_receipts(api: Api, p: ClientIdParams) -> PendingReceiptsResult:
    """Stamp all of a client's pending receipts as invoices (some may fail)."""
    return await api.post(f"/clients/{p.id}/stamp-pending-receipts", PendingReceiptsResult)
