"""Payments (cobros: payment links and payments received): parameters and results. Items, the client
reference and the forma de pago are the invoices' own models (one shape everywhere)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import EmailStr, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from ..guards.refusal import RefusedArgument, refuse
from ._base import Metadata, Out, Page, ReadStatus, Strict, ToolParams, WireStatus
from ._lists import MetadataFilters
from ._text import quoted, shown
from .clients import Rfc
from .invoices import MEXICO, InvoiceItem, InvoiceParty, Moneda, PaymentForm
from .lines import InvoiceClient, Item
from .sat import IdempotencyKey

Currency = Moneda  # c_Moneda; default MXN
ExchangeRate = Annotated[float, Field(gt=0)]
PaymentId = Annotated[str, Field(min_length=1)]
Form = PaymentForm
Items = Annotated[list[Item], Field(min_length=1)]
Client = InvoiceClient  # {id}, or the client's fiscal data
# gigstack's payment states (gigstack-api.md §4.10; n8n v2 spells "canceled"); sent as the CLI spells them
PaymentStatus = Annotated[
    Literal[
        "pending",
        "requires_payment_method",
        "processing",
        "succeeded",
        "failed",
        "cancelled",
        "canceled",
        "refunded",
    ],
    WireStatus,
]
Automation = Annotated[
    Literal["pue_invoice", "ppd_invoice_and_complement", "receipt", "none"],
    Field(
        description="Once paid: pue_invoice stamps a PUE invoice; ppd_invoice_and_complement a PPD invoice "
        "and its complement; receipt a self-invoice receipt (no CFDI); none nothing"
    ),
]


NO_INVOICES_FIELD = (
    "invoices is not a register_payment argument: gigstack takes no list of invoices on "
    "/payments/register. For PPD, set automation_type ppd_invoice_and_complement: gigstack stamps the PPD "
    "invoice for these items (unless this payment already has one) and the payment complement for this "
    "payment. gigstack's API documents no way to name a PPD invoice stamped earlier: for money that pays "
    "one, use automation_type none (no second invoice for the same income) and issue its complement in "
    "gigstack's app; get_client_statement nets the payment meanwhile."
)


class InvoiceConfig(Strict):
    serie: str | None = Field(None, max_length=25)
    folio: int | None = Field(None, ge=1)


# -- inputs ---------------------------------------------------------------------------------------


class ListPaymentsParams(MetadataFilters):
    query_fields: ClassVar[tuple[str, ...]] = (
        *MetadataFilters.query_fields,
        "status",
        "client_id",
        "currency",
        "email",
        "tax_id",
    )

    status: PaymentStatus | None = None
    client_id: str | None = None
    currency: Currency | None = None
    email: EmailStr | None = None  # the client's
    tax_id: Rfc | None = None  # the client's


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
    idempotency_key: IdempotencyKey | None = None
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
    # the complement's FechaPago; gigstack dates a payment on POST /payments/{id}/paid (gigstack-api §2.4)
    paid_on: date | None = Field(None, description="Day the money arrived (Mexico); default today")
    invoice_config: InvoiceConfig | None = None
    send_email: bool | None = None

    # An earlier version of this tool took `invoices` (uuids of PPD invoices to pay); no gigstack reference
    # documents such a field. Kept out of the schema, only to answer with what to do instead.
    invoices: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator("invoices")
    @classmethod
    def _no_invoices_field(cls, value: Any) -> None:
        if value is not None:
            rule = refuse(
                "PAYMENT-NO-INVOICES", NO_INVOICES_FIELD, field="invoices", allowed="no such argument"
            )
            raise RefusedArgument(rule)


class MarkPaidParams(PaymentIdParams):
    payment_form: Form
    date: int | None = Field(None, ge=0, description="unix seconds")  # default now


class RefundPaymentParams(PaymentIdParams):
    amount: float = Field(gt=0)
    reason: str | None = Field(None, max_length=500)
    external_processor_refund: bool | None = None  # also refund through Stripe etc.


# -- results --------------------------------------------------------------------------------------


class Payment(Out):
    id: str | None = None
    status: ReadStatus | None = None
    client: InvoiceParty | None = None
    items: list[InvoiceItem] | None = None  # the concepto(s) paid for
    subtotal: float | None = None
    taxes: float | None = None
    total: float | None = None
    currency: str | None = None
    exchange_rate: float | None = None
    payment_form: str | None = None
    automation_type: str | None = None
    invoices: list[str] | None = None
    complements: list[str] | None = None
    receipt: dict | None = None
    short_url: str | None = None
    refunded_amount: float | None = None
    payment_processor: str | None = None
    created_at: int | None = None
    succeeded_at: int | None = None

    def summary(self) -> str:
        who = quoted(self.client.legal_name or self.client.name) if self.client else "-"
        when = datetime.fromtimestamp(self.created_at, MEXICO).date() if self.created_at else "-"
        refunded = f" | refunded {self.refunded_amount:,.2f}" if self.refunded_amount else ""
        invoices = ", ".join(shown(i) for i in self.invoices or []) or "-"
        complements = ", ".join(shown(i) for i in self.complements or [])
        concept = "; ".join(quoted(i.description) for i in self.items or [] if i.description) or "-"
        return (
            f"{shown(self.id)} | {when} | {who} | {concept} | {self.total or 0:,.2f} {shown(self.currency)} | "
            f"{shown(self.status)} | forma {shown(self.payment_form)} | invoices {invoices}"
            + (f" | complements {complements}" if complements else "")
            + refunded
        )


class PaymentPage(Page[Payment]):
    pass
