"""Payments toolsets: payments received (with their invoice or PPD complements), refunds; and, off by
default, payment links (request one, mark one paid outside gigstack)."""

from __future__ import annotations

from datetime import date, datetime, time

from .. import clock
from ..context import Api
from ..guards import wiring
from ..models import quoted, shown
from ..models.invoices import MEXICO
from ..models.payments import (
    ListPaymentsParams,
    MarkPaidParams,
    Payment,
    PaymentIdParams,
    PaymentPage,
    RefundPaymentParams,
    RegisterPaymentParams,
    RequestPaymentParams,
)
from ..registry import GuardViolation, Toolset, refuse

payments = Toolset("payments", "Payments received (PUE invoice or PPD complement), refunds, cancellations.")
# Off by default: the default tools/list stays within its budget (issue 13), and registering money
# already received is the common case; links are one --toolsets away.
payment_links = Toolset("payment_links", "Payment links: request a payment, mark a link paid.")


NOT_A_FORM = (
    "payment_form 99 (por definir) is not how money is paid: ask the user how it was received "
    "(e.g. 03 transferencia, 01 efectivo, 04 tarjeta de crédito)"
)


def _not_a_form() -> GuardViolation:
    return refuse(
        "PAID-FORMA-99", NOT_A_FORM, field="payment_form", value="99", allowed="c_FormaPago except 99"
    )


def _today() -> date:
    return clock.today_mx()


def _paid_at(paid_on: date | None) -> int | None:
    """Unix seconds for an earlier day's payment (noon in Mexico: the day is what the complement's
    FechaPago needs); None for today, which gigstack dates itself."""
    if paid_on is None or paid_on == _today():
        return None
    if paid_on > _today():
        raise refuse(
            "PAID-ON-FUTURE",
            f"paid_on {paid_on.isoformat()} is in the future: register a payment once the money is in",
            field="paid_on",
            value=paid_on.isoformat(),
            allowed=f"today ({_today().isoformat()}, Mexico) or earlier",
        )
    return int(datetime.combine(paid_on, time(12), MEXICO).timestamp())


async def _guard_new_payment(api: Api, p: RequestPaymentParams | RegisterPaymentParams) -> list[str]:
    register = isinstance(p, RegisterPaymentParams)
    if register and p.payment_form == "99":
        raise _not_a_form()
    if register:
        _paid_at(p.paid_on)  # a future day is refused before anything is sent
    receiver = await wiring.receiver(api, {"id": p.client.id} if p.client.id else None)
    from ..guards.cfdi import check_payment  # loaded on the first check, not at start-up

    return wiring.rules(check_payment, p, receiver, await wiring.issuer(api), register=register)


def _money(amount: float | None, currency: str | None) -> str:
    return f"{amount or 0:,.2f} {shown(currency, 'MXN')}"


@payments.read("List payments")
async def list_payments(api: Api, p: ListPaymentsParams) -> PaymentPage:
    """List payments, newest first."""
    return await api.list("/payments", PaymentPage, p)


@payments.read("Get a payment")
async def get_payment(api: Api, p: PaymentIdParams) -> Payment:
    """Get one payment with its invoices, complements and refunds."""
    return await api.get(f"/payments/{p.id}", Payment)


@payment_links.write("Request a payment", guard=_guard_new_payment)
async def request_payment(api: Api, p: RequestPaymentParams) -> Payment:
    """Create a payment link (short_url) for money not received yet. Ask which methods to allow and
    whether to invoice once paid."""
    return await api.post("/payments/request", Payment, json=p.body(), idempotency_key=p.idempotency_key)


@payments.write("Register a payment", guard=_guard_new_payment)
async def register_payment(api: Api, p: RegisterPaymentParams) -> Payment:
    """Record money received (paid_on: the day it arrived); stamps a PUE invoice by default, or with
    ppd_invoice_and_complement a PPD invoice and this payment's complement."""
    body = p.body()
    paid_at = _paid_at(p.paid_on)
    if paid_at is None:
        return await api.post("/payments/register", Payment, json=body, idempotency_key=p.idempotency_key)
    # An earlier day: gigstack dates a payment when it is marked paid (POST /payments/{id}/paid {date}),
    # so the payment is opened as a request and marked paid on that day; its automation runs then.
    form = body.pop("payment_form")
    body.setdefault("automation_type", "pue_invoice")  # register's default, not request's (none)
    opened = await api.post("/payments/request", Payment, json=body, idempotency_key=p.idempotency_key)
    current = await api.get(f"/payments/{opened.id}", Payment)  # a retry replays the request's answer
    if current.status == "succeeded":  # a retry with the same idempotency_key: already marked paid
        return current
    return await api.post(
        f"/payments/{opened.id}/paid", Payment, json={"payment_form": form, "date": paid_at}
    )


@payment_links.write("Mark payment paid")
async def mark_payment_paid(api: Api, p: MarkPaidParams) -> Payment:
    """Mark a pending payment link as paid outside gigstack; runs its automation."""
    if p.payment_form == "99":
        raise _not_a_form()
    return await api.post(f"/payments/{p.id}/paid", Payment, json=p.body())


async def _guard_refund(api: Api, p: RefundPaymentParams) -> list[str]:
    pay = await api.get(f"/payments/{p.id}", Payment)
    if pay.status != "succeeded":
        raise refuse(
            "REFUND-NOT-COLLECTED",
            f"payment {pay.id} is {pay.status}: only a collected (succeeded) one can be refunded",
            field="id",
            value=pay.status,
            allowed="succeeded",
        )
    left = round((pay.total or 0) - (pay.refunded_amount or 0), 2)
    if p.amount > left + 1e-9:
        raise refuse(
            "REFUND-OVER-LEFT",
            f"amount {p.amount:,.2f} is above what is left to refund ({left:,.2f})",
            field="amount",
            value=p.amount,
            allowed=f"at most {left:,.2f}",
        )
    if p.external_processor_refund and (pay.payment_processor or "api") == "api":
        raise refuse(
            "REFUND-EXTERNAL",
            f"payment {pay.id} was not collected by a payment processor: return the money yourself and "
            "call without external_processor_refund",
            field="external_processor_refund",
            value=True,
            allowed="false for a payment no processor collected",
        )
    return []


async def _preview_refund(api: Api, p: RefundPaymentParams) -> str:
    pay = await api.get(f"/payments/{p.id}", Payment)
    who = quoted(pay.client.legal_name or pay.client.name) if pay.client else "-"
    how = (
        f"the money goes back through {shown(pay.payment_processor)}"
        if p.external_processor_refund
        else "only recorded; the money is returned outside gigstack"
    )
    return (
        f"Refund {_money(p.amount, pay.currency)} of payment {shown(pay.id)} ({who}, total "
        f"{_money(pay.total, pay.currency)}, already refunded {_money(pay.refunded_amount, pay.currency)}): "
        f"{how}." + (f" Reason: {quoted(p.reason)}." if p.reason else "")
    )


@payments.destructive("Refund a payment", preview=_preview_refund, guard=_guard_refund, idempotent=False)
async def refund_payment(api: Api, p: RefundPaymentParams) -> Payment:
    """Refund all or part of a collected payment."""
    return await api.post(f"/payments/{p.id}/refund", Payment, json=p.body())


def _not_cancellable(message: str, pay: Payment) -> GuardViolation:
    return refuse(
        "PAYMENT-CANCEL-STATUS",
        message,
        field="id",
        value=pay.status,
        allowed="pending, requires_payment_method or cancelled",
    )


async def _guard_cancel(api: Api, p: PaymentIdParams) -> list[str]:
    pay = await api.get(f"/payments/{p.id}", Payment)
    if pay.status == "succeeded":
        raise _not_cancellable(
            f"payment {pay.id} already succeeded (money collected): refund it instead", pay
        )
    if pay.status not in ("pending", "requires_payment_method", "cancelled"):
        raise _not_cancellable(f"payment {pay.id} is {pay.status} and cannot be cancelled", pay)
    return []


async def _preview_cancel(api: Api, p: PaymentIdParams) -> str:
    pay = await api.get(f"/payments/{p.id}", Payment)
    who = quoted(pay.client.legal_name or pay.client.name) if pay.client else "-"
    return (
        f"Cancel payment {shown(pay.id)} ({who}, {_money(pay.total, pay.currency)}, {shown(pay.status)}); "
        "its payment link stops working."
    )


@payments.destructive("Cancel a payment", preview=_preview_cancel, guard=_guard_cancel)
async def cancel_payment(api: Api, p: PaymentIdParams) -> Payment:
    """Cancel a pending payment or link (refund a collected one instead)."""
    return await api.delete(f"/payments/{p.id}", Payment)
