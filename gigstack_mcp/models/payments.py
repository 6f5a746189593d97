"""Payments (cobros: payment links and payments received): parameters and results. Items, the client
reference and the forma de pago are the invoices' own models (one shape everywhere)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import EmailStr, Field

from ._base import ListParams, Metadata, Out, Page, ToolParams, shape, text
from .invoices import MEXICO, InvoiceClient, InvoiceParty, Item, PaymentForm
from .services import Strict

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), text()]  # default MXN
ExchangeRate = Annotated[float, Field(gt=0)]
# The key's pattern (8-128 of [A-Za-z0-9._:-]) still validates; a bank transaction id fits it.
IdempotencyKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{8,128}$"), text()]
PaymentId = Annotated[str, Field(min_length=1)]
Form = Annotated[PaymentForm, Field(description="e.g. 03 transfer")]
Items = Annotated[list[Item], Field(min_length=1)]
Client = InvoiceClient  # {id}, or the client's fiscal data (its advertised shape says so)
PaymentStatus = Literal[
    "pending", "requires_payment_method", "processing", "succeeded", "failed", "cancelled", "refunded"
]
Automation = Annotated[
    Literal["pue_invoice", "ppd_invoice_and_complement", "receipt", "none"],
    Field(
        description="What gigstack does once paid: pue_invoice stamps a PUE invoice for the items; "
        "ppd_invoice_and_complement stamps a payment complement on each PPD invoice in `invoices` (or a "
        "new PPD invoice and its complement); receipt makes a receipt the customer self-invoices (no CFDI); "
        "none only records the payment"
    ),
]


class InvoiceConfig(Strict):
    __get_pydantic_json_schema__ = shape("{serie, folio}")

    serie: str | None = Field(None, max_length=25)
    folio: int | None = Field(None, ge=1)


# -- inputs ---------------------------------------------------------------------------------------


class ListPaymentsParams(ListParams):
    query_fields: ClassVar[tuple[str, ...]] = ("limit", "next", "status", "client_id")

    status: PaymentStatus | None = None
    client_id: str | None = None


class PaymentIdParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: PaymentId


class _NewPayment(ToolParams):
    client: Client
    items: Items
    currency: Currency | None = None
    exchange_rate: ExchangeRate | None = None
    metadata: Metadata | None = None


class RequestPaymentParams(_NewPayment):
    automation_type: Automation | None = None  # once paid; default none
    # card, oxxo and stripe-spei need Stripe connected (gigstack says so if it is not)
    allowed_payment_methods: list[Literal["card", "bank", "spei", "oxxo", "stripe-spei"]] | None = None
    send_email: bool | None = None
    emails: list[EmailStr] | None = None


class RegisterPaymentParams(_NewPayment):
    local_fields: ClassVar[tuple[str, ...]] = ("paid_on",)

    payment_form: Form
    idempotency_key: IdempotencyKey | None = None
    automation_type: Automation | None = None  # default pue_invoice (the docstring says it)
    invoices: list[str] | None = Field(None, min_length=1)  # uuids of the PPD invoices it pays
    # the complement's FechaPago; gigstack dates a payment on POST /payments/{id}/paid (gigstack-api §2.4)
    paid_on: date | None = Field(None, description="Day the money arrived (Mexico); default today")
    invoice_config: InvoiceConfig | None = None
    send_email: bool | None = None


class MarkPaidParams(PaymentIdParams):
    payment_form: Form
    date: int | None = Field(None, ge=0, description="unix seconds")  # default now


class RefundPaymentParams(PaymentIdParams):
    amount: float = Field(gt=0)
    reason: str | None = Field(None, max_length=500)
    external_processor_refund: bool | None = None  # also refund through Stripe etc.


# -- results --------------------------------------------------------------------------------------


class Payment(Out):
    id: str
    status: str | None = None
    client: InvoiceParty | None = None
    total: float | None = None
    currency: str | None = None
    payment_form: str | None = None
    invoices: list[str] | None = None
    complements: list[str] | None = None
    receipt: dict | None = None
    short_url: str | None = None
    refunded_amount: float | None = None
    payment_processor: str | None = None
    created_at: int | None = None

    def summary(self) -> str:
        who = (self.client.legal_name or self.client.name) if self.client else "-"
        when = datetime.fromtimestamp(self.created_at, MEXICO).date() if self.created_at else "-"
        refunded = f" | refunded {self.refunded_amount:,.2f}" if self.refunded_amount else ""
        return (
            f"{self.id} | {when} | {who} | {self.total or 0:,.2f} {self.currency} | {self.status} | "
            f"forma {self.payment_form or '-'} | invoices {', '.join(self.invoices or []) or '-'}{refunded}"
        )


class PaymentPage(Page[Payment]):
    pass
