"""Payments (cobros: payment links and payments received): parameters and results. Items, the client
reference and the forma de pago are the invoices' own models (one shape everywhere)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import EmailStr, Field

from ._base import ListParams, Out, Page, ToolParams
from .invoices import MEXICO, InvoiceClient, InvoiceParty, Item, PaymentForm
from .services import Strict

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="Default MXN.")]
ExchangeRate = Annotated[float, Field(gt=0, description="Required if currency is not MXN.")]
IdempotencyKey = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9._:-]{8,128}$",
        description="Same key, same result (e.g. bank tx id).",
    ),
]
PaymentId = Annotated[str, Field(min_length=1, description="payment_…")]
Form = Annotated[
    PaymentForm, Field(description="c_FormaPago: 01 efectivo, 03 transferencia, 04 crédito, 28 débito.")
]
Items = Annotated[list[Item], Field(min_length=1)]
Client = Annotated[InvoiceClient, Field(description="{id}, or the client's fiscal data.")]
PaymentStatus = Literal[
    "pending", "requires_payment_method", "processing", "succeeded", "failed", "cancelled", "refunded"
]
Automation = Literal["pue_invoice", "ppd_invoice_and_complement", "receipt", "none"]


class InvoiceConfig(Strict):
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
    metadata: dict[str, str] | None = None


class RequestPaymentParams(_NewPayment):
    automation_type: Automation | None = Field(None, description="What happens once paid; default none.")
    allowed_payment_methods: list[Literal["card", "bank", "spei", "oxxo", "stripe-spei"]] | None = Field(
        None, description="card/oxxo/stripe-spei need Stripe."
    )
    send_email: bool | None = None
    emails: list[EmailStr] | None = None


class RegisterPaymentParams(_NewPayment):
    payment_form: Form
    idempotency_key: IdempotencyKey | None = None
    automation_type: Automation | None = Field(
        None, description="Default pue_invoice; ppd_invoice_and_complement = PPD invoice + complement."
    )
    invoices: list[str] | None = Field(
        None, min_length=1, description="UUIDs of PPD invoices this pays (one complement each)."
    )
    invoice_config: InvoiceConfig | None = None
    send_email: bool | None = None


class MarkPaidParams(PaymentIdParams):
    payment_form: Form
    date: int | None = Field(None, ge=0, description="Unix seconds; default now.")


class RefundPaymentParams(PaymentIdParams):
    amount: float = Field(gt=0)
    reason: str | None = Field(None, max_length=500)
    external_processor_refund: bool | None = Field(None, description="Also refund through Stripe etc.")


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
