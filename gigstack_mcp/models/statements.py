"""A client's statement (estado de cuenta): what it was invoiced, paid and credited, and what it still
owes, from gigstack's invoices, credit notes and payments."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from ._base import Out, ToolParams
from ._text import quoted, shown
from .invoices import MEXICO, InvoiceParty


class StatementParams(ToolParams):
    local_fields: ClassVar[tuple[str, ...]] = ("client_id",)

    client_id: str = Field(min_length=1)


def _day(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, MEXICO).date().isoformat() if ts else "-"


def _money(amount: float | None, currency: str | None) -> str:
    return f"{amount or 0:,.2f} {shown(currency or 'MXN')}"


def _by_currency(totals: dict[str, float]) -> str:
    return ", ".join(_money(v, k) for k, v in totals.items()) or "0.00"


def _uuids(values: list[str]) -> str:
    return ", ".join(shown(v) for v in values) or "-"


class _Cfdi(Out):
    """What a statement line says of an invoice or credit note (values from gigstack: shown escaped)."""

    uuid: str
    series: str | None = None
    folio_number: int | None = None
    created_at: int | None = None
    currency: str | None = None
    total: float

    def _head(self) -> str:
        return (
            f"{shown(self.series, '')}-{self.folio_number} | {shown(self.uuid)} | {_day(self.created_at)} | "
            f"{_money(self.total, self.currency)}"
        )


class OpenInvoice(_Cfdi):
    paid: float = Field(description="Covered by payment complements")
    credited: float = Field(description="Credit notes applied to it")
    balance: float = Field(description="Still owed")

    def summary(self) -> str:
        return (
            f"{self._head()} | paid {self.paid:,.2f} | credited {self.credited:,.2f} | "
            f"owes {_money(self.balance, self.currency)}"
        )


class StatementCredit(_Cfdi):
    credits: list[str] = Field(default_factory=list, description="UUIDs of the invoices it credits")
    applied: float = Field(description="Part that lowered an open balance")

    def summary(self) -> str:
        return (
            f"{self._head()} | credits {_uuids(self.credits)} | applied to open balances {self.applied:,.2f}"
        )


class StatementPayment(Out):
    id: str
    paid_at: int | None = None
    total: float
    currency: str | None = None
    payment_form: str | None = None
    invoices: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{shown(self.id)} | {_day(self.paid_at)} | {_money(self.total, self.currency)} | forma "
            f"{shown(self.payment_form)} | invoices {_uuids(self.invoices)}"
        )


class ClientStatement(Out):
    client: InvoiceParty
    owed: dict[str, float] = Field(description="Net amount owed, by currency (negative: in its favour)")
    open_balances: dict[str, float] = Field(description="What its open invoices still owe, by currency")
    unapplied: dict[str, float] = Field(
        description="Payments received that no invoice, complement or receipt accounts for, by currency"
    )
    invoiced: dict[str, float] = Field(description="Valid income invoices, by currency")
    paid: dict[str, float] = Field(description="Payments received, by currency")
    credited: dict[str, float] = Field(description="Valid credit notes, by currency")
    open_invoices: list[OpenInvoice]
    credit_notes: list[StatementCredit]
    payments: list[StatementPayment]
    note: str | None = Field(None, description="Set when a list was cut or a scan bound was hit")

    def as_text(self) -> str:
        who = quoted(self.client.legal_name or self.client.name or self.client.id)
        lines = [
            f"Statement of {who} (RFC {shown(self.client.tax_id)}): owes {_by_currency(self.owed)}"
            + (
                f" (open invoices {_by_currency(self.open_balances)} minus {_by_currency(self.unapplied)} "
                "received but not applied to any invoice: no payment complement was issued for it)"
                if self.unapplied
                else ""
            ),
            f"Invoiced {_by_currency(self.invoiced)} | paid {_by_currency(self.paid)} | credited "
            f"{_by_currency(self.credited)}",
            f"Open invoices ({len(self.open_invoices)}, oldest first):",
            *(f"- {i.summary()}" for i in self.open_invoices),
            f"Credit notes ({len(self.credit_notes)}, newest first):",
            *(f"- {c.summary()}" for c in self.credit_notes),
            f"Payments ({len(self.payments)}, newest first):",
            *(f"- {p.summary()}" for p in self.payments),
        ]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)
