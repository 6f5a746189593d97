"""Valid example payloads for the seeded sandbox, shared by the demo (gigstack_mcp/demo.py),
benchmarks/soak.py and the tests, so that there is one copy of each to keep valid.

Each is a function that builds a fresh dict on every call: callers spread, extend and send these,
and one of them changing a nested list or dict must not leak into another's payload. Keyword
arguments add or replace top-level fields."""

from __future__ import annotations

from typing import Any

ACME = "client_acme"  # a seeded client (persona moral, régimen 601) that may receive uso G03


def item(
    price: float = 1000, qty: float = 1, taxes: list[dict[str, Any]] | None = None, **extra: Any
) -> dict:
    """One invoice line: Consultoría (SAT product 80101500 Servicios de consultoría de negocios y
    administración corporativa; unit E48 Unidad de servicio), with 16% IVA transferred unless `taxes`
    says otherwise. Inline, not a seeded service's id."""
    return {
        "description": "Consultoría",
        "quantity": qty,
        "unit_price": price,
        "product_key": "80101500",
        "unit_key": "E48",
        "taxes": [{"type": "IVA", "rate": 0.16}] if taxes is None else taxes,
        **extra,
    }


def income_invoice(*items: dict[str, Any], **extra: Any) -> dict:
    """An income CFDI to the seeded client ACME: uso G03 (gastos en general), paid in full (PUE) by
    transfer (forma de pago 03), with `items` (one `item()` when none are given)."""
    return {
        "client": {"id": ACME},
        "items": list(items) if items else [item()],
        "use": "G03",
        "payment_form": "03",
        "payment_method": "PUE",
    } | extra


def new_client(**extra: Any) -> dict:
    """A client the seed does not hold, with valid CFDI 4.0 fiscal data: Lucía Gómez, persona física
    (RFC GORL850315K29, régimen 612, CP 06700), uso G03, and an email."""
    return {
        "name": "Lucía Gómez",
        "legal_name": "LUCIA GOMEZ RUIZ",
        "tax_id": "GORL850315K29",
        "tax_system": "612",
        "use": "G03",
        "email": "lucia@example.com",
        "address": {"zip": "06700"},
    } | extra
