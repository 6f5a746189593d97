"""The CFDI amounts, in one place: item amounts, taxes and totals exactly as gigstack computes them.
Pure (no I/O): the embedded sandbox stamps with it and `preview_invoice` shows the human the same
numbers before anything is stamped.

- money is rounded half up to cents (the SAT's totals); a unit price with inclusive taxes is backed
  out to 6 decimals first;
- taxes: IVA/ISR/IEPS, factor Tasa (rate × base), Cuota (rate per unit) or Exento (base only, no
  amount); a withholding (retención) is never Exento;
- an item's tax base is its amount (quantity × unit price) minus its discount;
- totals: subtotal − discount + transferred − withheld.

Bad input raises `MathError` (a ValueError) whose message names the field, e.g. `items.0.unit_price`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
TAX_TYPES = ("IVA", "ISR", "IEPS")
# Fields an item inherits from the service it references (the item's own values win).
ITEM_FIELDS = (
    "description",
    "unit_price",
    "product_key",
    "unit_key",
    "unit_name",
    "sku",
    "taxability",
    "taxes",
)


class MathError(ValueError):
    """Amounts or taxes that cannot make a CFDI; the message names the field."""


def dec(x: Any) -> Decimal:
    return Decimal(str(x))


def money(x: Any) -> float:
    """Round half up to cents, as the SAT's totals are."""
    return float(dec(x).quantize(CENT, ROUND_HALF_UP))


def inherit(service: dict[str, Any] | None, raw: dict[str, Any]) -> dict[str, Any]:
    """An item with the referenced service's fields filled in (item fields win; `id` is the service's,
    `search` is dropped)."""
    item: dict[str, Any] = {}
    if service is not None:
        item = {k: service[k] for k in ITEM_FIELDS if k in service}
        item["id"] = service["id"]
    return item | {k: v for k, v in raw.items() if k not in {"id", "search"} and v is not None}


def norm_tax(tax: dict[str, Any], where: str) -> dict[str, Any]:
    """A tax line with type upper-cased and defaults applied (factor Tasa, transferred, not inclusive)."""
    kind = str(tax.get("type") or "").upper()
    if kind not in TAX_TYPES:
        raise MathError(f"{where}.type must be IVA, ISR or IEPS")
    factor = tax.get("factor") or "Tasa"
    if factor not in {"Tasa", "Cuota", "Exento"}:
        raise MathError(f"{where}.factor must be Tasa, Cuota or Exento")
    withholding = bool(tax.get("withholding", False))
    if factor == "Exento" and withholding:
        raise MathError(f"{where}: a withholding (retención) cannot be Exento")
    rate = tax.get("rate")
    if factor != "Exento" and rate is None:
        raise MathError(f"{where}.rate is required for factor {factor}")
    if rate is not None and float(rate) < 0:
        raise MathError(f"{where}.rate must not be negative")
    return {
        "type": kind,
        "rate": None if factor == "Exento" else float(rate),
        "factor": factor,
        "withholding": withholding,
        "inclusive": bool(tax.get("inclusive", False)),
    }


def price_item(item: dict[str, Any], where: str) -> dict[str, Any]:
    """`item` (service fields already inherited) with quantity, net unit_price, amount, discount,
    computed taxes (each with base, and amount unless Exento) and taxability (02 with taxes, else 01)."""
    try:
        return _price_item(item, where)
    except InvalidOperation:  # beyond Decimal's 28 digits (e.g. quantity 1e308), or NaN/Infinity
        raise MathError(f"{where}: quantity, unit_price, discount or a tax rate is out of range") from None


def _price_item(item: dict[str, Any], where: str) -> dict[str, Any]:
    if item.get("unit_price") is None:
        raise MathError(f"{where}.unit_price is required (or reference a service by id)")
    qty, price = dec(item.get("quantity", 1)), dec(item["unit_price"])
    if qty <= 0:
        raise MathError(f"{where}.quantity must be greater than 0")
    if price <= 0:
        raise MathError(f"{where}.unit_price must be greater than 0")
    taxes = [norm_tax(t, f"{where}.taxes.{i}") for i, t in enumerate(item.get("taxes") or [])]
    # Inclusive taxes are inside unit_price: back them out (rates as a factor, cuotas per unit).
    sign = lambda t: -1 if t["withholding"] else 1  # noqa: E731
    inclusive = [t for t in taxes if t["inclusive"]]
    rates = sum((dec(t["rate"]) * sign(t) for t in inclusive if t["factor"] == "Tasa"), Decimal(0))
    cuotas = sum((dec(t["rate"]) * sign(t) for t in inclusive if t["factor"] == "Cuota"), Decimal(0))
    if rates or cuotas:
        price = ((price - cuotas) / (1 + rates)).quantize(MICRO, ROUND_HALF_UP)
        if price <= 0:
            raise MathError(f"{where}.unit_price does not cover its inclusive taxes")
    amount = (qty * price).quantize(CENT, ROUND_HALF_UP)
    discount = dec(item.get("discount") or 0)
    if discount < 0 or discount > amount:
        raise MathError(f"{where}.discount must be between 0 and the item amount ({money(amount)})")
    base = amount - discount
    computed = []
    for t in taxes:
        row = dict(t) | {"base": money(base)}
        if t["factor"] == "Tasa":
            row["amount"] = money(base * dec(t["rate"]))
        elif t["factor"] == "Cuota":
            row["amount"] = money(qty * dec(t["rate"]))
        computed.append(row)  # Exento: base only, no amount
    return item | {
        "quantity": float(qty),
        "unit_price": float(price),
        "amount": money(amount),
        "discount": money(discount),
        "taxes": computed,
        "taxability": item.get("taxability") or ("02" if computed else "01"),
    }


def totals(items: list[dict[str, Any]]) -> dict[str, float]:
    """subtotal, discount, transferred_taxes, withheld_taxes, taxes (net) and total of priced items."""
    lines = [t for i in items for t in i["taxes"] if "amount" in t]
    transferred = sum((dec(t["amount"]) for t in lines if not t["withholding"]), Decimal(0))
    withheld = sum((dec(t["amount"]) for t in lines if t["withholding"]), Decimal(0))
    subtotal = sum((dec(i["amount"]) for i in items), Decimal(0))
    discount = sum((dec(i["discount"]) for i in items), Decimal(0))
    return {
        "subtotal": money(subtotal),
        "discount": money(discount),
        "transferred_taxes": money(transferred),
        "withheld_taxes": money(withheld),
        "taxes": money(transferred - withheld),
        "total": money(subtotal - discount + transferred - withheld),
    }
