"""G. Cancellation: motive, substitution UUID, global invoices, receiver acceptance, deadline."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

from ._core import (
    _F,
    GENERIC_RFCS,
    PUBLICO_GENERAL,
    UUID_RE,
    Severity,
    _code,
    _date_of,
    _Doc,
    _join,
    _map,
    _num,
    _rows,
    rule,
)

ACCEPTANCE_THRESHOLD = 1000.0  # RMF 2.7.1.35: no receiver acceptance needed up to $1,000.00 MXN


# G. Cancellation ----------------------------------------------------------------------------------------


def _motive(doc: _Doc) -> str | None:
    return _code(doc.body.get("motive"))


@rule(
    "CANCEL-MOTIVO",
    Severity.BLOCK,
    {"cancel"},
    "motive ∈ 01 errores con relación, 02 errores sin relación, 03 operación no realizada, 04 nominativa en global.",
)
def _cancel_motivo(doc: _Doc) -> Iterator[_F]:
    """The cancellation motive is not 01-04."""
    if _motive(doc) not in _rows("motivo_cancelacion"):
        yield _F(
            "motive",
            doc.body.get("motive"),
            _join(f"{c} {r['description']}" for c, r in _rows("motivo_cancelacion").items()),
            "El motivo de cancelación debe ser 01, 02, 03 o 04.",
            "The cancellation motive must be 01, 02, 03 or 04.",
        )


@rule(
    "CANCEL-01-UUID",
    Severity.BLOCK,
    {"cancel"},
    "Motive 01 needs substitution_uuid, the replacing CFDI (issued first with relationship 04), not the invoice itself; 02-04 carry none.",
)
def _cancel_uuid(doc: _Doc) -> Iterator[_F]:
    """Motive 01 needs the UUID of the replacing invoice; other motives take none."""
    motive, sub = _motive(doc), doc.body.get("substitution_uuid")
    own = _map(doc.invoice).get("uuid")
    if motive == "01":
        if not sub:
            yield _F(
                "substitution_uuid",
                sub,
                "UUID of the new invoice (issued first with relationship 04 to this one)",
                "Con motivo 01 indique el UUID del CFDI que sustituye (emítalo antes con relación 04).",
                "Motive 01 needs the UUID of the replacing CFDI (issue it first with relationship 04).",
            )
        elif not (isinstance(sub, str) and UUID_RE.match(sub)):
            yield _F("substitution_uuid", sub, "UUID 8-4-4-4-12 hex", "No es un UUID.", "Not a UUID.")
        elif isinstance(own, str) and sub.upper() == own.upper():
            yield _F(
                "substitution_uuid",
                sub,
                "a different invoice's UUID",
                "El UUID de sustitución es el de la misma factura que se cancela.",
                "The substitution UUID is the cancelled invoice itself.",
            )
    elif motive in _rows("motivo_cancelacion") and sub:
        yield _F(
            "substitution_uuid",
            sub,
            "(none) for motives 02-04",
            f"Con motivo {motive} no se indica UUID de sustitución (solo con 01).",
            f"Motive {motive} takes no substitution UUID (only 01 does).",
        )


def _is_global(invoice: Mapping[str, Any]) -> bool:
    return bool(invoice.get("global")) or _map(invoice.get("client")).get("tax_id") == PUBLICO_GENERAL


@rule(
    "CANCEL-04-GLOBAL",
    Severity.WARN,
    {"cancel"},
    "Motive 04 is for a global invoice whose sale is now invoiced nominatively.",
)
def _cancel_global(doc: _Doc) -> Iterator[_F]:
    """Motive 04 is meant for global invoices (a sale later invoiced to the customer by name)."""
    if _motive(doc) == "04" and doc.invoice is not None and not _is_global(doc.invoice):
        yield _F(
            "motive",
            "04",
            "01, 02 or 03 for a non-global invoice",
            "El motivo 04 es para facturas globales; esta no lo es.",
            "Motive 04 is for global invoices; this one is not.",
            warn=True,
        )


def _next_business_day(day: date) -> date:
    day += timedelta(days=1) if day < date.max - timedelta(days=3) else timedelta(0)
    while day.weekday() >= 5 and day < date.max:
        day += timedelta(days=1)
    return day


@rule(
    "CANCEL-ACEPTACION",
    Severity.WARN,
    {"cancel"},
    "The receiver may have to accept (3 business days) unless RMF 2.7.1.35 exempts it (≤ $1,000 MXN, egreso, público en general, extranjero, global, next business day…).",
)
def _cancel_aceptacion(doc: _Doc) -> Iterator[_F]:
    """The receiver may have to accept the cancellation within 3 business days; until then it stays pending."""
    inv = doc.invoice
    if inv is not None:
        total = (_num(inv.get("total")) or 0) * (_num(inv.get("exchange_rate")) or 1)
        issued = _date_of(inv.get("created_at"))
        exempt = (
            _code(inv.get("invoice_type")) in ("E", "T", "N", "P")
            or total <= ACCEPTANCE_THRESHOLD
            or _map(inv.get("client")).get("tax_id") in GENERIC_RFCS
            or _is_global(inv)
            or (issued is not None and doc.today <= _next_business_day(issued))
        )
        if exempt:
            return
    may = "puede" if inv is None else "debe"
    yield _F(
        "motive",
        doc.body.get("motive"),
        "",
        f"El receptor {may} tener que aceptar la cancelación (3 días hábiles); mientras tanto queda pendiente.",
        f"The receiver {'may' if inv is None else 'will'} have to accept the cancellation (3 business days); until then it stays pending.",
        warn=True,
    )


@rule(
    "CANCEL-PLAZO",
    Severity.WARN,
    {"cancel"},
    "An invoice from a previous year can only be cancelled until that year's annual return (CFF 29-A).",
)
def _cancel_plazo(doc: _Doc) -> Iterator[_F]:
    """The invoice is from a previous year: cancellation is only possible until that year's annual return."""
    issued = _date_of(_map(doc.invoice).get("created_at"))
    if issued is not None and issued.year < doc.today.year:
        yield _F(
            "uuid",
            _map(doc.invoice).get("uuid"),
            f"issued in {doc.today.year}, or before the {issued.year} annual return",
            f"La factura es de {issued.year}: solo se puede cancelar hasta la declaración anual de ese ejercicio.",
            f"The invoice is from {issued.year}: it can only be cancelled until that year's annual return.",
            warn=True,
        )
