"""Invoices (CFDI 4.0: income I, egress E, payment complements P): parameters and results."""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar, Literal

from mcp.types import BlobResourceContents, ContentBlock, EmbeddedResource
from pydantic import EmailStr, Field, PrivateAttr, model_validator

from ._base import ListParams, Out, Page, ToolParams, shape, text
from .services import Price, ProductKey, Strict, Taxability, TaxLine, UnitKey, taxes_text
from .services import Tax as Tax

# Advertised without their patterns (the name or the example says it; the patterns still validate):
Uuid = Annotated[str, Field(pattern=r"^[0-9A-Fa-f-]{36}$"), text()]  # a CFDI folio fiscal
Use = Annotated[str, Field(pattern=r"^[A-Z]{1,2}[0-9]{2}$"), text("uso CFDI, e.g. G03")]
Rfc = Annotated[str, Field(pattern=r"^[A-Z&Ñ]{3,4}[0-9]{6}[A-Z0-9]{3}$")]
RegimenFiscal = Annotated[str, Field(pattern=r"^6[0-2][0-9]$")]
# c_FormaPago (gigstack-api.md §4.4): 01-06, 08, 12-15, 17, 23-31, 99
PaymentForm = Annotated[str, Field(pattern=r"^(0[1-68]|1[2-57]|2[3-9]|3[01]|99)$"), text()]
Motive = Literal["01", "02", "03", "04"]
MOTIVES = {
    "01": "issued with errors, replaced by another CFDI",
    "02": "issued with errors, no replacement",
    "03": "the operation did not take place",
    "04": "nominative operation included in a global invoice",
}
MEXICO = timezone(timedelta(hours=-6))  # America/Mexico_City, no DST since 2022


# -- inputs ---------------------------------------------------------------------------------------


# The nested inputs every create tool shares are advertised as one line each (models/_base.shape).
class Item(Strict):
    __get_pydantic_json_schema__ = shape(
        "{id: service id, quantity} or {description, quantity, unit_price, product_key, unit_key, taxes: "
        "[{type: IVA, rate: 0.16, factor, withholding, inclusive}], taxability, discount}"
    )

    id: str | None = None  # a service's id: its fields are the defaults
    description: str | None = None
    quantity: float | None = Field(None, gt=0)
    unit_price: Price | None = None
    product_key: ProductKey | None = None
    unit_key: UnitKey | None = None
    taxability: Taxability | None = None
    taxes: list[Tax] | None = None
    discount: float | None = Field(None, ge=0)


class ZipOnly(Strict):
    zip: str = Field(pattern=r"^[0-9]{5}$")


class ClientSearch(Strict):
    on_key: Literal["tax_id", "email"]
    on_value: str


class InvoiceClient(Strict):
    __get_pydantic_json_schema__ = shape(
        "{id} or {legal_name, tax_id, tax_system, address: {zip}, email, search: {on_key, on_value}}"
    )

    id: str | None = None  # or the fields to create one
    legal_name: str | None = None
    tax_id: Rfc | None = None
    tax_system: RegimenFiscal | None = None
    email: EmailStr | None = None
    address: ZipOnly | None = None
    search: ClientSearch | None = None


class GlobalInfo(Strict):
    __get_pydantic_json_schema__ = shape("{periodicity, months, year}")  # catalogs periodicidad, meses

    periodicity: Literal["01", "02", "03", "04", "05"]
    months: str = Field(pattern=r"^(0[1-9]|1[0-8])$")
    year: int


class RelatedDocuments(Strict):
    __get_pydantic_json_schema__ = shape("{relationship (tipo-relacion), documents: [uuid]}")

    relationship: Literal["01", "02", "03", "04", "05", "06", "07"]
    documents: list[Uuid] = Field(min_length=1)


class InvoiceFields(ToolParams):  # what an invoice is made of: the creates' and preview_invoice's arguments
    client: InvoiceClient
    items: list[Item] = Field(min_length=1)
    use: Use | None = None
    payment_form: PaymentForm | None = None  # c_FormaPago, e.g. 03 (lookup_catalog forma-pago)
    payment_method: Literal["PUE", "PPD"] | None = None  # default PUE
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$"), text()] | None = None
    exchange_rate: float | None = Field(None, gt=0)
    global_: GlobalInfo | None = Field(None, alias="global")
    related_documents: list[RelatedDocuments] | None = None
    automation_type: (
        Annotated[
            Literal["none", "payment", "payment_and_complement", "pue_invoice"],
            Field(
                description="none (default): the invoice only; payment or pue_invoice: also record it paid "
                "(PUE); payment_and_complement: also record the payment and stamp its complement (PPD)"
            ),
        ]
        | None
    ) = None
    series: str | None = None
    folio_number: int | None = Field(None, ge=1)
    exports: Literal["01", "02", "03", "04"] | None = None
    send_email: bool | None = None
    emails: list[EmailStr] | None = None
    metadata: dict | None = None


class CreateInvoiceParams(InvoiceFields):
    local_fields: ClassVar[tuple[str, ...]] = ("preview_token",)

    # same key, same invoice; the pattern (8-128 of [A-Za-z0-9._:-]) still validates
    idempotency_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{8,128}$"), text()] | None = None
    preview_token: str | None = Field(None, description="From preview_invoice")


class PreviewInvoiceParams(InvoiceFields):
    local_fields: ClassVar[tuple[str, ...]] = ("invoice_type",)

    invoice_type: Literal["I", "E"] = Field("I", description="E = credit note")


class UuidParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("uuid",)
    uuid: Uuid


class ListInvoicesParams(ListParams):
    query_fields: ClassVar[tuple[str, ...]] = (
        "limit",
        "next",
        "status",
        "client_id",
        "series",
        "payment_method",
    )
    local_fields: ClassVar[tuple[str, ...]] = ("folio_number", "date_from", "date_to")

    client_id: str | None = None
    status: Literal["valid", "cancelled"] | None = None
    series: str | None = None
    folio_number: int | None = Field(None, ge=1)
    payment_method: Literal["PUE", "PPD"] | None = None
    date_from: date | None = None
    date_to: date | None = None

    def query(self) -> dict[str, Any]:
        q = super().query()
        if self.date_from:
            q["created[gte]"] = int(datetime.combine(self.date_from, datetime.min.time(), MEXICO).timestamp())
        if self.date_to:
            q["created[lte]"] = int(datetime.combine(self.date_to, datetime.max.time(), MEXICO).timestamp())
        return q


class FilesParams(UuidParams):
    query_fields: ClassVar[tuple[str, ...]] = ("file_type",)
    local_fields: ClassVar[tuple[str, ...]] = ("include_content",)

    file_type: Literal["pdf", "xml"] | None = None  # both when omitted
    # also the XML text and the PDF (the docstring says it; false when omitted, as any flag)
    include_content: bool = Field(False, json_schema_extra=lambda s: s.pop("default"))


class CancelInvoiceParams(UuidParams):
    motive: Motive = Field(
        description="01 replaced (with substitution_uuid), 02 errors, 03 not done, 04 in a global"
    )
    substitution_uuid: Uuid | None = None


# -- results --------------------------------------------------------------------------------------


class InvoiceParty(Out):
    id: str | None = None
    name: str | None = None
    legal_name: str | None = None
    tax_id: str | None = None


# gigstack's cancellation_status while the SAT waits for the receiver (RMF 2.7.1.35: up to 3 business
# days; the CFDI stays valid until accepted, and is valid again if refused).
AWAITING_ACCEPTANCE = frozenset({"pending_acceptance", "pending", "in_process", "requested"})
CANCELLATION_PENDING = "cancellation_pending_acceptance"


class _Status(Out):
    """Status as the user should hear it: a cancellation the receiver has not accepted yet is not a
    cancelled invoice."""

    status: str | None = None
    cancellation_status: str | None = None

    @model_validator(mode="after")
    def _awaiting_acceptance(self) -> _Status:
        if self.cancellation_status in AWAITING_ACCEPTANCE:
            self.status = CANCELLATION_PENDING
        return self


class RelatedCfdi(Out):  # what an answer says about related CFDIs
    relationship: str | None = None
    documents: list[str] | None = None


def _line(inv: Any) -> str:
    who = (inv.client.legal_name or inv.client.name) if inv.client else "-"
    rfc = inv.client.tax_id if inv.client else "-"
    due = f" | saldo {inv.last_balance:,.2f}" if inv.last_balance is not None else ""
    status = inv.status
    if status == CANCELLATION_PENDING:
        status = "cancellation requested, awaiting the receiver's acceptance (still valid until then)"
    related = "".join(
        f" | related {r.relationship}: {', '.join(r.documents or [])}"
        for r in getattr(inv, "related_documents", None) or []
    )
    return (
        f"{inv.series}-{inv.folio_number} | {inv.uuid} | {who} ({rfc}) | "
        f"{inv.total or 0:,.2f} {inv.currency} | {inv.payment_method} | {status}{due}{related}"
    )


class InvoiceRow(_Status):
    uuid: str
    series: str | None = None
    folio_number: int | None = None
    client: InvoiceParty | None = None
    total: float | None = None
    currency: str | None = None
    payment_method: str | None = None
    last_balance: float | None = None
    created_at: int | None = None

    def summary(self) -> str:
        when = datetime.fromtimestamp(self.created_at, MEXICO).date() if self.created_at else "-"
        return f"{_line(self)} | {when}"


class InvoicePage(Page[InvoiceRow]):
    pass


class InvoiceItem(Out):
    description: str | None = None
    quantity: float | None = None
    unit_price: float | None = None
    amount: float | None = None
    product_key: str | None = None
    taxes: list[TaxLine] | None = None


class IssuedInvoice(_Status):  # what a create answers: folio, the totals gigstack computed, file links
    uuid: str
    series: str | None = None
    folio_number: int | None = None
    client: InvoiceParty | None = None
    subtotal: float | None = None
    taxes: float | None = None
    total: float | None = None
    currency: str | None = None
    payment_method: str | None = None
    last_balance: float | None = None
    related_documents: list[RelatedCfdi] | None = None  # an egress: the invoice(s) it credits
    files: dict[str, str] | None = None

    def summary(self) -> str:
        return _line(self)


class Invoice(IssuedInvoice):
    items: list[InvoiceItem] | None = None

    def summary(self) -> str:
        items = "; ".join(
            f"{i.quantity:g} x {i.description} ({taxes_text(i.taxes)})" for i in self.items or []
        )
        return f"{_line(self)} | {items}"


class InvoiceFiles(Out):
    uuid: str | None = None
    pdf: str | None = None
    xml: str | None = None
    xml_content: str | None = None
    pdf_bytes: int | None = None
    note: str | None = None
    _pdf: bytes | None = PrivateAttr(None)

    def extra_content(self) -> list[ContentBlock]:
        """The PDF as an embedded resource, after the text (kept out of structured content)."""
        if not self._pdf or not self.pdf:
            return []
        blob = base64.b64encode(self._pdf).decode()
        resource = BlobResourceContents(uri=self.pdf, mime_type="application/pdf", blob=blob)
        return [EmbeddedResource(type="resource", resource=resource)]


# -- preview (nothing stamped) ---------------------------------------------------------------------


class PreviewReceiver(Out):
    legal_name: str | None = None
    tax_id: str | None = None
    tax_system: str | None = None
    zip: str | None = None


class PreviewItem(InvoiceItem):
    discount: float | None = None


def _money(x: float | None) -> str:
    return f"{x or 0:,.2f}"


def _tax_text(t: TaxLine) -> str:
    rate = "exento" if t.factor == "Exento" else f"{(t.rate or 0) * 100:g}%"
    if t.factor == "Cuota":
        rate = f"{t.rate:g} per unit"
    sign = "-" if t.withholding else ""
    amount = "" if t.amount is None else f" {sign}{_money(t.amount)}"
    return f"{t.type} {'retenido ' if t.withholding else ''}{rate}{amount}"


class InvoicePreview(Out):
    invoice_type: Literal["I", "E"]
    receiver: PreviewReceiver | None = None
    items: list[PreviewItem]
    subtotal: float
    discount: float
    transferred_taxes: float
    withheld_taxes: float
    total: float
    currency: str
    exchange_rate: float | None = None
    use: str | None = None
    payment_method: str | None = None
    payment_form: str | None = None
    warnings: list[str] | None = None
    preview_token: str
    expires_at: int

    def as_text(self) -> str:
        kind = "income invoice (factura)" if self.invoice_type == "I" else "egress invoice (nota de crédito)"
        r = self.receiver or PreviewReceiver()
        lines = [
            f"PREVIEW of an {kind}: nothing has been stamped.",
            f"Receiver: {r.legal_name or '?'}, RFC {r.tax_id or '?'}, régimen {r.tax_system or '?'}, "
            f"CP {r.zip or '?'}",
        ]
        for n, i in enumerate(self.items, 1):
            taxes = "; ".join(_tax_text(t) for t in i.taxes or []) or "no taxes"
            off = f" - discount {_money(i.discount)}" if i.discount else ""
            lines.append(
                f"{n}. {i.quantity:g} x {i.description} ({i.product_key or '-'}) @ {_money(i.unit_price)}"
                f" = {_money(i.amount)}{off} | {taxes}"
            )
        rate = f" (exchange rate {self.exchange_rate:g})" if self.exchange_rate else ""
        lines += [
            f"Subtotal {_money(self.subtotal)}"
            + (f" | Discount -{_money(self.discount)}" if self.discount else "")
            + f" | Taxes transferred {_money(self.transferred_taxes)}"
            + (f" | Withheld -{_money(self.withheld_taxes)}" if self.withheld_taxes else ""),
            f"TOTAL {_money(self.total)} {self.currency}{rate}",
            f"Use: {self.use or '-'} | Method: {self.payment_method or '-'} | Form: {self.payment_form or '-'}",
        ]
        if self.warnings:
            lines += ["Warnings:", *(f"- {w}" for w in self.warnings)]
        create = "create_income_invoice" if self.invoice_type == "I" else "create_egress_invoice"
        lines.append(
            f"After the user approves: {create} with the same arguments except invoice_type (the tool says "
            f"it), plus preview_token={self.preview_token}"
        )
        return "\n".join(lines)
