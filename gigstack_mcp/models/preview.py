"""A preview of an invoice (nothing stamped): the receiver, lines and totals a create called with
preview true shows."""

from __future__ import annotations

from typing import Literal

from ._base import Out
from ._text import one_line, quoted, shown
from .invoices import InvoiceItem, _money
from .services import TaxLine


class PreviewReceiver(Out):
    legal_name: str | None = None
    tax_id: str | None = None
    tax_system: str | None = None
    zip: str | None = None
    country: str | None = None  # ResidenciaFiscal, for a receiver abroad
    foreign_tax_id: str | None = None  # NumRegIdTrib


class PreviewItem(InvoiceItem):
    discount: float | None = None
    third_party: dict[str, str] | None = None  # ACuentaTerceros


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
            f"Receiver: {quoted(r.legal_name, '?')}, RFC {shown(r.tax_id, '?')}, "
            f"régimen {shown(r.tax_system, '?')}, CP {shown(r.zip, '?')}",
        ]
        for n, i in enumerate(self.items, 1):
            taxes = "; ".join(_tax_text(t) for t in i.taxes or []) or "no taxes"
            off = f" - discount {_money(i.discount)}" if i.discount else ""
            if i.third_party:
                t = i.third_party
                off += (
                    f" | a cuenta de terceros {quoted(t.get('legal_name'))} RFC {shown(t.get('tax_id'))}, "
                    f"régimen {shown(t.get('tax_system'))}, CP {shown(t.get('zip'))}"
                )
            lines.append(
                f"{n}. {i.quantity:g} x {quoted(i.description)} ({shown(i.product_key)}) @ {_money(i.unit_price)}"
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
            lines += ["Warnings:", *(f"- {one_line(w)}" for w in self.warnings)]
        create = "create_income_invoice" if self.invoice_type == "I" else "create_egress_invoice"
        lines.append(
            f"After the user approves: {create} with the same arguments without preview, plus "
            f"preview_token={self.preview_token}"
        )
        return "\n".join(lines)
