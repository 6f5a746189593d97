"""Invoices (CFDI 4.0: income I, egress E, payment complements P): parameters and results."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from mcp.types import BlobResourceContents, ContentBlock, EmbeddedResource
from pydantic import AfterValidator, EmailStr, Field, PrivateAttr, field_validator, model_validator

from ..clock import MEXICO
from ._base import ListParams, Metadata, Out, Page, ToolParams, WireStatus, same_state, text
from ._lists import MetadataFilters
from ._text import quoted, shown
from .lines import InvoiceClient, InvoiceLine
from .sat import CurrencyCode, IdempotencyKey
from .services import Strict, TaxLine, taxes_text
from .services import Tax as Tax

# Advertised without their patterns (the name or the example says it; the patterns still validate):
Uuid = Annotated[str, Field(pattern=r"^[0-9A-Fa-f-]{36}$")]  # a CFDI folio fiscal
Use = Annotated[str, Field(pattern=r"^[A-Z]{1,2}[0-9]{2}$"), text("c_UsoCFDI, e.g. G03")]
# c_FormaPago (gigstack-api.md §4.4): 01-06, 08, 12-15, 17, 23-31, 99
PaymentForm = Annotated[
    str, Field(pattern=r"^(0[1-68]|1[2-57]|2[3-9]|3[01]|99)$"), text("c_FormaPago, e.g. 03")
]
Motive = Literal["01", "02", "03", "04"]


def _moneda(value: str) -> str:
    """A SAT c_Moneda code: the PAC refuses anything else, e.g. "DLS" (CFDI40113)."""
    from ..catalogs import codes  # loaded on first use

    if value not in codes("moneda"):
        raise ValueError(
            f"currency {value!r} is not in SAT c_Moneda: e.g. MXN, USD, EUR (lookup_catalog moneda)"
        )
    return value


Moneda = Annotated[CurrencyCode, AfterValidator(_moneda), text()]  # default MXN
MOTIVES = {
    "01": "issued with errors, replaced by another CFDI",
    "02": "issued with errors, no replacement",
    "03": "the operation did not take place",
    "04": "nominative operation included in a global invoice",
}


# -- inputs ---------------------------------------------------------------------------------------


class GlobalInfo(Strict):
    periodicity: Literal["01", "02", "03", "04", "05"] = Field(description="c_Periodicidad")
    months: str = Field(pattern=r"^(0[1-9]|1[0-8])$", description="c_Meses")
    year: int


class RelatedDocuments(Strict):
    relationship: Literal["01", "02", "03", "04", "05", "06", "07"] = Field(description="c_TipoRelacion")
    documents: list[Uuid] = Field(min_length=1)


class Complement(Strict):
    type: str = Field(min_length=1)  # e.g. custom
    data: str = Field(min_length=1, max_length=100_000)  # the complement's XML


class InvoiceFields(ToolParams):  # what an invoice is made of: the creates' arguments
    client: InvoiceClient
    items: list[InvoiceLine] = Field(min_length=1)
    use: Use | None = None
    payment_form: PaymentForm | None = None
    payment_method: Literal["PUE", "PPD"] | None = None  # default PUE
    currency: Moneda | None = None
    exchange_rate: float | None = Field(None, gt=0)
    global_: GlobalInfo | None = Field(None, alias="global")
    related_documents: list[RelatedDocuments] | None = None
    automation_type: (
        Annotated[
            Literal["none", "payment", "payment_and_complement", "pue_invoice"],
            Field(
                description="none (default); payment/pue_invoice: also record it paid; "
                "payment_and_complement: also the payment and its complement (PPD)"
            ),
        ]
        | None
    ) = None
    series: str | None = None
    folio_number: int | None = Field(None, ge=1)
    exports: Literal["01", "02", "03", "04"] | None = Field(None, description="c_Exportacion")
    send_email: bool | None = None
    emails: list[EmailStr] | None = None
    metadata: Metadata | None = None
    # gigstack-api.md §3.4 (create-income-invoice page): sent as given
    complements: list[Complement] | None = None
    addenda: str | None = Field(None, max_length=100_000)  # raw XML for cfdi:Addenda
    invoice_pdf_notes: str | None = Field(None, max_length=2000)
    return_files_urls: bool | None = None  # the answer carries the PDF and XML links


class CreateInvoiceParams(InvoiceFields):
    local_fields: ClassVar[tuple[str, ...]] = ("preview_token", "preview")

    # same key, same invoice; the pattern (8-128 of [A-Za-z0-9._:-]) still validates
    idempotency_key: IdempotencyKey | None = None
    preview: bool | None = Field(
        None, description="true: SAT checks and totals only, nothing stamped; returns preview_token"
    )
    preview_token: str | None = None  # from the preview (its text says so)

    @field_validator("preview")
    @classmethod
    def _false_is_not_given(cls, v: bool | None) -> bool | None:
        """preview false stamps, as if not given: the confirmation token binds the same arguments."""
        return v or None


class UuidParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("uuid",)
    uuid: Uuid


# gigstack's invoice states (gigstack-api.md §4.10; n8n v2 spells "canceled"); sent as the CLI spells them
InvoiceStatus = Annotated[Literal["valid", "cancelled", "canceled", "pending"], WireStatus]


class ListInvoicesParams(MetadataFilters):
    query_fields: ClassVar[tuple[str, ...]] = (
        *MetadataFilters.query_fields,
        "status",
        "client_id",
        "series",
        "payment_method",
    )
    # gigstack has no folio filter; payment_method is sent, but gigstack does not honour it yet (its CLI's
    # context.ts says so): tools/invoices.py checks both on what comes back.
    local_fields: ClassVar[tuple[str, ...]] = ("folio_number",)

    client_id: str | None = None
    status: InvoiceStatus | None = None
    series: str | None = None
    folio_number: int | None = Field(None, ge=1)
    payment_method: Literal["PUE", "PPD"] | None = None


class FilesParams(UuidParams):
    query_fields: ClassVar[tuple[str, ...]] = ("file_type",)
    local_fields: ClassVar[tuple[str, ...]] = ("include_content",)

    file_type: Literal["pdf", "xml"] | None = None  # both when omitted
    # also the XML text and the PDF (the docstring says it; false when omitted, as any flag)
    include_content: bool = False


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
AWAITING_RECEIVER = AWAITING_ACCEPTANCE
CANCELLATION_PENDING = "cancellation_pending_acceptance"


class _Status(Out):
    """Status as the user should hear it: a cancellation the receiver has not accepted yet is not a
    cancelled invoice (structured `status` says cancellation_pending_acceptance; cancellation_status
    keeps gigstack's word)."""

    status: str | None = None
    cancellation_status: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _one_spelling(cls, value: Any) -> Any:
        return same_state(value)  # gigstack's "canceled" is "cancelled"

    @model_validator(mode="after")
    def _awaiting_acceptance(self) -> _Status:
        if self.cancellation_status in AWAITING_ACCEPTANCE:
            self.status = CANCELLATION_PENDING
        return self


def status_text(status: str | None, cancellation: str | None) -> str:
    """The invoice's real state: a cancellation awaiting the receiver is not a cancelled CFDI."""
    if cancellation in AWAITING_RECEIVER:
        return "valid (cancellation awaiting the receiver's acceptance)"
    if cancellation == "rejected":
        return "valid (the receiver rejected the cancellation)"
    return shown(status)


def _when(ts: int | None) -> str:
    """Unix seconds (or ms) as the date and time in Mexico City."""
    if not ts:
        return "-"
    ts = ts / 1000 if ts > 10**11 else ts
    return datetime.fromtimestamp(ts, MEXICO).strftime("%Y-%m-%d %H:%M")


def _line(inv: Any) -> str:
    who = quoted(inv.client.legal_name or inv.client.name) if inv.client else "-"
    rfc = shown(inv.client.tax_id) if inv.client else "-"
    due = f" | saldo {inv.last_balance:,.2f}" if inv.last_balance is not None else ""
    related = "".join(
        f" | related {shown(r.relationship)}: {', '.join(shown(d) for d in r.documents or [])}"
        for r in getattr(inv, "related_documents", None) or []
    )
    return (
        f"{shown(inv.series, '')}-{inv.folio_number} | {shown(inv.uuid)} | {who} ({rfc}) | "
        f"{inv.total or 0:,.2f} {shown(inv.currency)} | {shown(inv.payment_method)} | "
        f"{status_text(inv.status, inv.cancellation_status)}{due}{related}"
    )


class InvoiceRow(_Status):
    uuid: str | None = None
    status: str | None = None
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


class RelatedDocs(Out):
    relationship: str | None = None
    documents: list[str] | None = None


class ComplementPayment(Out):
    """The pago a complement (CFDI type P) records, against one PPD invoice."""

    amount: float | None = None
    payment_form: str | None = None
    date: int | None = None
    currency: str | None = None
    exchange_rate: float | None = None
    invoice_uuid: str | None = None
    installment: int | None = None
    previous_balance: float | None = None
    remaining_balance: float | None = None


class IssuedInvoice(_Status):
    """An invoice as a model must act on it: every amount, code and state gigstack reports."""

    uuid: str | None = None
    invoice_type: str | None = None
    status: str | None = None
    cancellation_status: str | None = None
    series: str | None = None
    folio_number: int | None = None
    created_at: int | None = None
    client: InvoiceParty | None = None
    use: str | None = None
    payment_method: str | None = None
    payment_form: str | None = None
    currency: str | None = None
    exchange_rate: float | None = None
    subtotal: float | None = None
    discount: float | None = None
    transferred_taxes: float | None = None
    withheld_taxes: float | None = None
    taxes: float | None = None
    total: float | None = None
    last_balance: float | None = None
    payment_complements: int | None = None
    related_documents: list[RelatedDocs] | None = None
    invoice_id: str | None = None  # a complement's parent PPD invoice
    payment: ComplementPayment | None = None  # a complement's pago
    items: list[InvoiceItem] | None = None
    files: dict[str, str] | None = None

    @model_validator(mode="after")
    def _split_taxes(self) -> IssuedInvoice:
        """gigstack may report only the net `taxes`; the items' tax lines give each side."""
        lines = [t for i in self.items or [] for t in i.taxes or [] if t.amount is not None]
        if self.transferred_taxes is None and lines:
            self.transferred_taxes = round(sum(t.amount for t in lines if not t.withholding), 2)
        if self.withheld_taxes is None and lines:
            self.withheld_taxes = round(sum(t.amount for t in lines if t.withholding), 2)
        return self

    def summary(self) -> str:
        return _line(self)

    def as_text(self) -> str:
        """Short `field: value` lines under gigstack's field names; dates in Mexico City time."""
        kind = {"I": "Income invoice", "E": "Egress invoice (nota de crédito)", "P": "Payment complement"}
        who = quoted(self.client.legal_name or self.client.name) if self.client else "-"
        rfc = shown(self.client.tax_id) if self.client else "-"
        rate = f" | exchange_rate: {self.exchange_rate:g}" if self.exchange_rate not in (None, 1.0) else ""
        state = f"status: {status_text(self.status, self.cancellation_status)}"
        if self.cancellation_status:
            state += f" | cancellation_status: {shown(self.cancellation_status)}"
        lines = [
            f"{kind.get(self.invoice_type or '', 'Invoice')} {shown(self.series, '')}-{shown(self.folio_number)}"
            f" | uuid: {shown(self.uuid)} | created_at: {_when(self.created_at)} (Mexico City)",
            state,
            f"client: {who} (tax_id {rfc}) | use: {shown(self.use)} | payment_method: "
            f"{shown(self.payment_method)} | payment_form: {shown(self.payment_form)}",
            f"subtotal: {_money(self.subtotal)}"
            + (f" | discount: {_money(self.discount)}" if self.discount else "")
            + f" | transferred_taxes: {_money(self.transferred_taxes)}"
            + (f" | withheld_taxes: {_money(self.withheld_taxes)}" if self.withheld_taxes else "")
            + f" | total: {_money(self.total)} {shown(self.currency)}{rate}",
        ]
        if self.payment_method == "PPD" or self.last_balance is not None:
            more = (
                f" (list_payment_complements invoice_id={shown(self.uuid)})"
                if self.payment_complements
                else ""
            )
            lines.append(
                f"last_balance: {_money(self.last_balance)} | payment_complements: "
                f"{self.payment_complements or 0}{more}"
            )
        if self.payment:
            pay = self.payment
            lines.append(
                f"payment: pays {shown(pay.invoice_uuid or self.invoice_id)}, installment {shown(pay.installment)},"
                f" {_money(pay.amount)} {shown(pay.currency)}, form {shown(pay.payment_form)} on {_when(pay.date)};"
                f" balance {_money(pay.previous_balance)} -> {_money(pay.remaining_balance)}"
            )
        for rel in self.related_documents or []:
            docs = ", ".join(shown(d) for d in rel.documents or [])
            lines.append(f"related_documents: {shown(rel.relationship)} {docs}")
        if self.items and self.invoice_type != "P":
            lines.append(
                "items: "
                + "; ".join(
                    f"{i.quantity or 0:g} x {quoted(i.description)} = {_money(i.amount)} ({taxes_text(i.taxes)})"
                    for i in self.items
                )
            )
        if self.files:
            lines.append("files: " + ", ".join(f"{k} {shown(v)}" for k, v in self.files.items()))
        return "\n".join(lines)


class Invoice(IssuedInvoice):
    pass


class PaymentComplement(IssuedInvoice):
    """A payment complement (CFDI type P, REP): the pago it records and the PPD invoice it pays."""

    def summary(self) -> str:
        pay = self.payment or ComplementPayment()
        return (
            f"{shown(self.series, '')}-{shown(self.folio_number)} | {shown(self.uuid)} | {_when(self.created_at)}"
            f" | pays {shown(pay.invoice_uuid or self.invoice_id)} #{shown(pay.installment)} "
            f"{_money(pay.amount)} {shown(pay.currency)} form {shown(pay.payment_form)} | saldo after "
            f"{_money(pay.remaining_balance)} | {status_text(self.status, self.cancellation_status)}"
        )


class ComplementPage(Page[PaymentComplement]):
    pass


class ListComplementsParams(ListParams):
    query_fields: ClassVar[tuple[str, ...]] = ("limit", "next", "invoice_id")

    invoice_id: Uuid | None = None  # the PPD income invoice they pay


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


def _money(x: float | None) -> str:
    return f"{x or 0:,.2f}"
