"""Receipts (recibos de venta the customer self-invoices; otherwise they go to the global invoice):
parameters and results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from ._base import SPELLINGS, Metadata, Out, Page, Strict, ToolParams, spelled
from ._lists import MetadataFilters
from ._text import quoted, shown
from .clients import RegimenFiscal, Rfc
from .invoices import MEXICO, InvoiceParty
from .payments import Client, Currency, ExchangeRate, Form, IdempotencyKey, InvoiceConfig, Items
from .sat import Zip

# gigstack has two words for some receipt states (gigstack-api.md §4.10; its CLI's context.ts: "open" is
# pending, "completed" is invoiced; n8n v2 says "stamped" and "canceled"). Filters send, and results show,
# the words the CLI's own tips filter by: pending, invoiced, expired, cancelled.
same_receipt_state = spelled({**SPELLINGS, "open": "pending", "completed": "invoiced", "stamped": "invoiced"})
ReceiptStatus = Annotated[
    Literal["pending", "open", "invoiced", "completed", "stamped", "expired", "cancelled", "canceled"],
    AfterValidator(same_receipt_state),
]


class ListReceiptsParams(MetadataFilters):
    query_fields: ClassVar[tuple[str, ...]] = (*MetadataFilters.query_fields, "status", "client_id")

    status: ReceiptStatus | None = None
    client_id: str | None = None


class ReceiptIdParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: str = Field(min_length=1)


class CreateReceiptParams(ToolParams):
    client: Client | None = None
    items: Items
    payment_form: Form | None = None
    periodicity: Literal["day", "week", "two_weeks", "month", "two_months"] | None = Field(
        None, description="self-invoice window"
    )
    currency: Currency | None = None
    exchange_rate: ExchangeRate | None = None
    invoice_config: InvoiceConfig | None = None
    idempotency_key: IdempotencyKey | None = None
    metadata: Metadata | None = None


class FiscalInformation(Strict):
    legal_name: str | None = Field(None, max_length=300)
    tax_id: Rfc | None = None
    tax_system: RegimenFiscal | None = None
    zip: Zip | None = None


class StampReceiptParams(ReceiptIdParams):
    stamp_to: Literal["client", "general_public_national", "general_public_foreign"]
    fiscal_information: FiscalInformation | None = None
    date: int | None = Field(None, ge=0, description="unix ms, within 72 h")


class Receipt(Out):
    id: str | None = None
    status: Annotated[str, BeforeValidator(same_receipt_state)] | None = None
    client: InvoiceParty | None = None
    subtotal: float | None = None
    total: float | None = None
    currency: str | None = None
    payment_form: str | None = None  # the global invoice uses the form that paid the most
    periodicity: str | None = None
    url: str | None = None
    valid_until: int | None = Field(None, alias="validUntil")
    invoice: dict | None = None
    created_at: int | None = None

    def summary(self) -> str:
        who = quoted(self.client.legal_name or self.client.name) if self.client else "sin cliente"
        when = datetime.fromtimestamp(self.created_at, MEXICO).date() if self.created_at else "-"
        inv = f" | invoice {shown(self.invoice.get('uuid'))}" if self.invoice else ""
        form = f" | forma {shown(self.payment_form)}" if self.payment_form else ""
        return (
            f"{shown(self.id)} | {when} | {who} | {self.total or 0:,.2f} {shown(self.currency)}{form} | "
            f"{shown(self.status)}{inv}"
        )


class ReceiptPage(Page[Receipt]):
    pass


class ReceiptInvoice(Out):
    """The invoice stamped from a receipt."""

    uuid: str | None = None
    status: str | None = None
    series: str | None = None
    folio_number: int | None = None
    client: InvoiceParty | None = None
    total: float | None = None
    currency: str | None = None
    files: dict[str, str] | None = Field(None, description="pdf and xml links.")
    receipt_id: str | None = None
