"""C. Factura global (InformacionGlobal): periodicity, months, year, and how a global
invoice is filled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...sat import global_year_range
from ._core import (
    _F,
    INVOICE,
    PUBLICO_GENERAL,
    PUBLICO_NOMBRE,
    Severity,
    _code,
    _Doc,
    _join,
    _list,
    _map,
    _num,
    _plain,
    _rows,
    _withholding,
    rule,
)

RECEIPT_PERIODS = {"day": "01", "week": "02", "two_weeks": "03", "month": "04", "two_months": "05"}


# C. Factura global -------------------------------------------------------------------------------------


@rule(
    "GLOBAL-REQUIRED",
    Severity.BLOCK,
    INVOICE,
    "Income to XAXX010101000 / PUBLICO EN GENERAL needs `global` (CFDI40130); `global` only on income to público en general.",
)
def _global_required(doc: _Doc) -> Iterator[_F]:
    """An income invoice to público en general needs `global` {periodicity, months, year}, and only it may carry one."""
    glob = doc.glob
    publico = doc.rfc == PUBLICO_GENERAL and _plain(doc.receiver["legal_name"]) in ("", PUBLICO_NOMBRE)
    if doc.scope == "I" and publico and glob is None:
        yield _F(
            "global",
            None,
            "{periodicity, months, year}",
            "Una factura de ingreso a PUBLICO EN GENERAL es una factura global: indique global{periodicity, months, year}.",
            "An income invoice to PUBLICO EN GENERAL is a global invoice: give global{periodicity, months, year}.",
        )
    elif glob is not None and doc.scope == "E":
        yield _F(
            "global",
            dict(glob),
            "(none on egress invoices)",
            "InformacionGlobal solo va en facturas de ingreso.",
            "`global` only goes on income invoices.",
        )
    elif glob is not None and doc.rfc and doc.rfc != PUBLICO_GENERAL:
        yield _F(
            "global",
            dict(glob),
            f"only with client RFC {PUBLICO_GENERAL}",
            f"La factura global es solo para público en general (XAXX010101000), no para {doc.rfc}.",
            f"A global invoice is only for público en general (XAXX010101000), not {doc.rfc}.",
        )


def _periodicity(doc: _Doc) -> tuple[str, Any, str | None]:
    """(field, raw value, SAT code) of the global periodicity (receipts use words)."""
    if doc.scope == "receipt":
        raw = doc.body.get("periodicity")
        return "periodicity", raw, RECEIPT_PERIODS.get(raw) if isinstance(raw, str) else None
    raw = _map(doc.glob).get("periodicity")
    return "global.periodicity", raw, _code(raw)


@rule(
    "GLOBAL-PERIOD",
    Severity.BLOCK,
    {"I", "receipt"},
    "global.periodicity ∈ 01 Diario, 02 Semanal, 03 Quincenal, 04 Mensual, 05 Bimestral (receipts: day … two_months). CFDI40131.",
)
def _global_period(doc: _Doc) -> Iterator[_F]:
    """The global invoice's periodicity is not in c_Periodicidad."""
    field, raw, code = _periodicity(doc)
    if doc.scope == "receipt":
        if raw is not None and code is None:
            yield _F(
                field,
                raw,
                _join(RECEIPT_PERIODS),
                f"La periodicidad {raw} no existe.",
                f"Periodicity {raw} does not exist.",
            )
        return
    if doc.glob is not None and code not in _rows("periodicidad"):
        allowed = _join(f"{c} {r['description']}" for c, r in _rows("periodicidad").items())
        yield _F(
            field,
            raw,
            allowed,
            "La periodicidad de la factura global no está en c_Periodicidad.",
            "The global invoice's periodicity is not in c_Periodicidad.",
        )


@rule(
    "GLOBAL-BIMESTRAL-621",
    Severity.BLOCK,
    {"I", "receipt"},
    "Bimonthly (05) global invoices only for an issuer in régimen 621 RIF (CFDI40132); warns when the issuer régimen is unknown.",
)
def _global_bimestral(doc: _Doc) -> Iterator[_F]:
    """Periodicity 05 Bimestral is only for issuers in régimen 621 (Incorporación Fiscal)."""
    field, raw, code = _periodicity(doc)
    if code != "05":
        return
    regimen = doc.issuer["tax_system"]
    if regimen != "621":
        yield _F(
            field,
            raw,
            "01-04 (05 only for issuers in régimen 621)",
            "La periodicidad bimestral solo aplica a emisores del régimen 621."
            + (" No se conoce el régimen del emisor." if regimen is None else ""),
            "Bimonthly periodicity is only for issuers in régimen 621."
            + (" The issuer's régimen is unknown." if regimen is None else ""),
            warn=regimen is None,
        )


@rule(
    "GLOBAL-MESES",
    Severity.BLOCK,
    {"I"},
    "global.months ∈ c_Meses; periodicity 01-04 ⇒ 01-12, 05 ⇒ 13-18. CFDI40133-40135.",
)
def _global_meses(doc: _Doc) -> Iterator[_F]:
    """The global invoice's months do not fit its periodicity (01-12 monthly codes, 13-18 bimesters)."""
    if doc.glob is None:
        return
    months = doc.glob.get("months")  # a code string: "01"-"18"
    period = _rows("periodicidad").get(_code(doc.glob.get("periodicity")) or "")
    allowed = period["meses_permitidos"] if period else list(_rows("meses"))
    if months not in allowed:
        yield _F(
            "global.months",
            doc.glob.get("months"),
            _join(allowed),
            "El mes/bimestre de la factura global no corresponde a su periodicidad.",
            "The global invoice's months value does not fit its periodicity.",
        )


@rule(
    "GLOBAL-ANIO",
    Severity.BLOCK,
    {"I"},
    "global.year ≥ 2019, not in the future and at most 5 years back (CFDI40136); warns when older than last year (guía global).",
)
def _global_anio(doc: _Doc) -> Iterator[_F]:
    """The global invoice's year is in the future or too old."""
    if doc.glob is None:
        return
    raw = doc.glob.get("year")
    year = _num(raw)
    this = doc.today.year
    low, high = global_year_range(doc.today)  # the sandbox applies the same range
    allowed = f"{low}-{high}"
    if year is None or year != int(year) or not (low <= year <= high):
        yield _F(
            "global.year",
            raw,
            allowed,
            f"El año de la factura global debe estar entre {allowed}.",
            f"The global invoice's year must be within {allowed}.",
        )
    elif year < this - 1:
        yield _F(
            "global.year",
            raw,
            f"{this - 1}-{this}",
            "La guía de la factura global espera el año en curso o el anterior.",
            "The global invoice guide expects the current or the previous year.",
            warn=True,
        )


@rule(
    "GLOBAL-FILL",
    Severity.POLICY,
    {"I"},
    "Global invoice fill: PUE, exports 01, each item one ticket: product_key 01010101, unit_key ACT, quantity 1.",
)
def _global_fill(doc: _Doc) -> Iterator[_F]:
    """A global invoice is PUE, exports 01, and each item is one ticket (01010101, ACT, quantity 1)."""
    if doc.glob is None:
        return
    if doc.method != "PUE":
        yield _F(
            "payment_method",
            doc.body.get("payment_method"),
            "PUE",
            "La factura global siempre es PUE.",
            "A global invoice is always PUE.",
        )
    exports = _code(doc.body.get("exports"))
    if exports not in (None, "01"):
        yield _F(
            "exports",
            exports,
            "01",
            "La factura global lleva Exportación 01.",
            "A global invoice has exports 01.",
        )
    expected = {"product_key": "01010101", "unit_key": "ACT"}
    for path, item in doc.items():
        for key, want in expected.items():
            got = _code(item.get(key))
            if got is not None and got != want:
                yield _F(
                    f"{path}.{key}",
                    got,
                    want,
                    f"En la factura global cada concepto es un ticket con {key} {want}.",
                    f"In a global invoice each item is one ticket with {key} {want}.",
                )
        quantity = _num(item.get("quantity"))
        if quantity is not None and quantity != 1:
            yield _F(
                f"{path}.quantity",
                item.get("quantity"),
                "1",
                "En la factura global cada concepto es un ticket: cantidad 1.",
                "In a global invoice each item is one ticket: quantity 1.",
            )


@rule(
    "GLOBAL-NO-RETENCIONES",
    Severity.POLICY,
    {"I", "receipt"},
    "No withholdings on a global invoice or a receipt (RMF 2.7.1.21 does not apply): invoice that sale on its own.",
)
def _global_no_retenciones(doc: _Doc) -> Iterator[_F]:
    """Withholdings are not allowed on a global invoice or a receipt: issue a nominative invoice for that sale."""
    if doc.scope in INVOICE and doc.glob is None:
        return
    for path, tax, _item in doc.taxes():
        if _withholding(tax):
            yield _F(
                f"{path}.withholding",
                True,
                "false",
                "Con retenciones no aplica la factura global: emita una factura por la operación.",
                "With withholdings the global-invoice facility does not apply: issue an invoice for that sale.",
            )


@rule(
    "GLOBAL-EGRESO",
    Severity.POLICY,
    {"E"},
    "A credit note to público en general relates to the global invoice with relationship 01.",
)
def _global_egreso(doc: _Doc) -> Iterator[_F]:
    """A credit note to público en general must relate to the global invoice's UUID with relationship 01."""
    if doc.rfc != PUBLICO_GENERAL:
        return
    if not any(_code(_map(r).get("relationship")) == "01" for r in _list(doc.body.get("related_documents"))):
        yield _F(
            "related_documents",
            doc.body.get("related_documents"),
            '[{"relationship": "01", "documents": [<global invoice UUID>]}]',
            "Una nota de crédito a público en general se relaciona (01) con la factura global.",
            "A credit note to público en general must relate (01) to the global invoice.",
        )
