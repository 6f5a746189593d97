"""The CFDI amounts, in one place: item amounts, taxes and totals exactly as gigstack computes them.
Pure (no I/O): the embedded sandbox stamps with it and an invoice's preview (a create with preview true)
shows the human the same numbers before anything is stamped.

- money is rounded half up to cents (the SAT's totals); a unit price with inclusive taxes is backed
  out to 6 decimals first;
- taxes: IVA/ISR/IEPS, factor Tasa (rate × base), Cuota (rate per unit) or Exento (base only, no
  amount); a withholding (retención) is never Exento;
- an item's tax base is its amount (quantity × unit price) minus its discount, and must be > 0 when it
  carries taxes (Matriz de errores CFDI40174/CFDI40181);
- IVA's base also includes the item's transferred IEPS, Tasa and Cuota (LIVA art. 12: the value for IVA
  includes the other taxes charged to the buyer; Anexo 20 guía de llenado, IEPS examples);
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
    price = _net_unit_price(price, taxes, where)
    amount = (qty * price).quantize(CENT, ROUND_HALF_UP)
    discount = dec(item.get("discount") or 0)
    if discount < 0 or discount > amount:
        raise MathError(f"{where}.discount must be between 0 and the item amount ({money(amount)})")
    base = amount - discount
    if taxes and base <= 0:
        raise MathError(
            f"{where}.discount leaves no tax base: an item with taxes needs amount minus discount > 0 "
            "(SAT CFDI40174); lower the discount or leave the item out"
        )
    # IEPS first: IVA's base carries it (LIVA art. 12). Rows keep the caller's order.
    ieps = sum((dec(_tax_row(t, base, qty)["amount"]) for t in taxes if _is_ieps_traslado(t)), Decimal(0))
    computed = [_tax_row(t, base + ieps if t["type"] == "IVA" else base, qty) for t in taxes]
    return item | {
        "quantity": float(qty),
        "unit_price": float(price),
        "amount": money(amount),
        "discount": money(discount),
        "taxes": computed,
        "taxability": item.get("taxability") or ("02" if computed else "01"),
    }


def _is_ieps_traslado(tax: dict[str, Any]) -> bool:
    return tax["type"] == "IEPS" and not tax["withholding"] and tax["factor"] != "Exento"


def _tax_row(tax: dict[str, Any], base: Decimal, qty: Decimal) -> dict[str, Any]:
    row = dict(tax) | {"base": money(base)}
    if tax["factor"] == "Tasa":
        row["amount"] = money(base * dec(tax["rate"]))
    elif tax["factor"] == "Cuota":
        row["amount"] = money(qty * dec(tax["rate"]))
    return row  # Exento: base only, no amount


def _net_unit_price(price: Decimal, taxes: list[dict[str, Any]], where: str) -> Decimal:
    """The unit price without the inclusive taxes inside it. Per unit, with net price p:
    gross = p·(1 + Σ other rates) + Σ other cuotas + Σ IVA rate · (p·(1 + IEPS rates) + IEPS cuotas),
    IVA's base carrying every transferred IEPS (LIVA art. 12); withholdings count negative."""
    inclusive = [t for t in taxes if t["inclusive"] and t["factor"] != "Exento"]
    if not inclusive:
        return price
    ieps = [t for t in taxes if _is_ieps_traslado(t)]
    ieps_rate = sum((dec(t["rate"]) for t in ieps if t["factor"] == "Tasa"), Decimal(0))
    ieps_cuota = sum((dec(t["rate"]) for t in ieps if t["factor"] == "Cuota"), Decimal(0))
    factor, fixed = Decimal(1), Decimal(0)
    for t in inclusive:
        rate = dec(t["rate"]) * (-1 if t["withholding"] else 1)
        if t["type"] == "IVA":
            factor += rate * (1 + ieps_rate)
            fixed += rate * ieps_cuota
        elif t["factor"] == "Tasa":
            factor += rate
        else:
            fixed += rate
    net = ((price - fixed) / factor).quantize(MICRO, ROUND_HALF_UP)
    if net <= 0:
        raise MathError(f"{where}.unit_price does not cover its inclusive taxes")
    return net


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
