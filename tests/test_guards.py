"""SAT guard rails (gigstack_mcp/guards/cfdi.py): one passing and one failing case per rule ID, property
tests over generated valid bodies and one-field perturbations of them, and the generated rule table."""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
from copy import deepcopy
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gigstack_mcp.catalogs import load
from gigstack_mcp.guards import cfdi
from gigstack_mcp.guards.cfdi import (
    NOT_CHECKED,
    RULES,
    GuardWarning,
    RuleViolation,
    Severity,
    Violation,
    check_cancel,
    check_client,
    check_invoice,
    check_payment,
    check_receipt,
    check_receipt_stamp,
    rules_markdown,
)

TODAY = date(2026, 11, 25)
CHARS = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ"


def with_check_digit(prefix: str) -> str:
    """Complete an 11/12-character RFC prefix with its mod-11 check digit (0-9 or A)."""
    total = 481 if len(prefix) == 11 else 0
    total += sum(CHARS.index(c) * i for i, c in enumerate(reversed(prefix), start=2))
    return prefix + "0123456789A"[-total % 11]


FISICA_RFC = with_check_digit("PEGJ800101AB")
MORAL_RFC = with_check_digit("AIN980512QX")
ISSUER = {"tax_id": with_check_digit("DSA200101AB"), "tax_system": "601", "address": {"zip": "64000"}}
RESICO_ISSUER = {"tax_id": with_check_digit("RORL850101AB"), "tax_system": "626", "address": {"zip": "64000"}}
RIF_ISSUER = {"tax_id": with_check_digit("RIFA850101AB"), "tax_system": "621", "address": {"zip": "64000"}}
BORDER_ISSUER = {**ISSUER, "address": {"zip": "21000"}}
FISICA = {
    "tax_id": FISICA_RFC,
    "tax_system": "612",
    "legal_name": "JUAN PEREZ GARCIA",
    "use": "G03",
    "address": {"zip": "03100", "country": "MEX"},
}
MORAL = {**FISICA, "tax_id": MORAL_RFC, "tax_system": "601", "legal_name": "ACME INDUSTRIAL SA DE CV"}
PUBLICO = {
    "tax_id": "XAXX010101000",
    "tax_system": "616",
    "legal_name": "PUBLICO EN GENERAL",
    "use": "S01",
    "address": {"zip": "64000"},
}
EXTRANJERO = {
    **PUBLICO,
    "tax_id": "XEXX010101000",
    "legal_name": "GLOBEX CORP",
    "address": {"zip": "64000", "country": "USA"},
}
IVA16 = {"type": "IVA", "rate": 0.16, "factor": "Tasa", "withholding": False, "inclusive": False}
UUID_A = "5F3A1C2E-1234-4ABC-9DEF-0123456789AB"
UUID_B = "9B2C7D10-5678-4DEF-8ABC-FEDCBA987654"
INVOICE = {
    "client": {"id": "client_juan_perez"},
    "payment_method": "PUE",
    "payment_form": "03",
    "use": "G03",
    "currency": "MXN",
    "items": [
        {
            "description": "Consultoría",
            "quantity": 2,
            "unit_price": 1000,
            "product_key": "80141503",
            "unit_key": "E48",
            "taxability": "02",
            "taxes": [IVA16],
        }
    ],
}
GLOBAL = {
    **INVOICE,
    "client": {"id": "client_publico_general"},
    "payment_form": "01",
    "use": "S01",
    "global": {"periodicity": "04", "months": "10", "year": 2026},
    "items": [{**INVOICE["items"][0], "quantity": 1, "product_key": "01010101", "unit_key": "ACT"}],
}
EGRESS = {**INVOICE, "use": "G02", "related_documents": [{"relationship": "01", "documents": [UUID_A]}]}
REGISTER = {
    "client": {"id": "client_juan_perez"},
    "items": [{"description": "Consultoría marzo", "quantity": 1, "unit_price": 15000, "taxes": [IVA16]}],
    "payment_form": "03",
    "currency": "MXN",
    "automation_type": "pue_invoice",
}
RECEIPT = {
    "items": [{"description": "Café", "quantity": 2, "unit_price": 45, "taxes": [IVA16]}],
    "payment_form": "01",
}


def body(base: dict[str, Any], item: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A copy of `base` with top-level `changes` (None removes the key) and `item` merged into items[0]."""
    out = deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    if item:
        out["items"][0].update(item)
    return out


def inv(base=INVOICE, receiver=FISICA, issuer=ISSUER, kind="I", allow_policy=False, item=None, **changes):
    return lambda: check_invoice(
        body(base, item, **changes), kind, receiver, issuer, TODAY, allow_policy=allow_policy
    )


def glob(receiver=PUBLICO, issuer=ISSUER, item=None, **changes):
    return inv(GLOBAL, receiver, issuer, item=item, **changes)


def egr(receiver=FISICA, issuer=ISSUER, item=None, **changes):
    return inv(EGRESS, receiver, issuer, "E", item=item, **changes)


def pay(receiver=FISICA, issuer=ISSUER, item=None, **changes):
    return lambda: check_payment(body(REGISTER, item, **changes), receiver, issuer, TODAY)


def rec(issuer=ISSUER, item=None, **changes):
    return lambda: check_receipt(body(RECEIPT, item, **changes), issuer, TODAY)


def cli(**changes):
    return lambda: check_client({**deepcopy(FISICA), "name": "Juan", **changes})


def who(d: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**deepcopy(d), **changes}


def tax(**fields: Any) -> list[dict[str, Any]]:
    return [{"factor": "Tasa", "withholding": False, **fields}]


def invoice_doc(days_ago: int = 0, total: float = 5000.0, **extra: Any) -> dict[str, Any]:
    issued = datetime.combine(TODAY - timedelta(days=days_ago), time(12), timezone(timedelta(hours=-6)))
    return {
        "uuid": UUID_A,
        "invoice_type": "I",
        "total": total,
        "currency": "MXN",
        "client": {"id": "client_acme", "tax_id": MORAL_RFC},
        "created_at": int(issued.timestamp()),
        **extra,
    }


def cancel(motive="02", sub=None, invoice=None):
    return lambda: check_cancel(motive, sub, invoice, TODAY)


# (rule ID, a call that passes, a call that breaks the rule). Each call returns warnings or raises.
CASES: list[tuple[str, Any, Any]] = [
    # A. receptor, persona, régimen, uso
    ("RFC-FORMAT", inv(), inv(receiver=who(FISICA, tax_id="PEGJ801301AB1"))),
    ("RFC-FORMAT", cli(), cli(tax_id="NOT-AN-RFC")),
    (
        "RFC-CHECKDIGIT",
        inv(),
        inv(receiver=who(FISICA, tax_id=FISICA_RFC[:-1] + ("1" if FISICA_RFC[-1] != "1" else "2"))),
    ),
    (
        "PERSONA-FROM-RFC",
        inv(receiver=MORAL, use="G01"),
        inv(receiver=who(FISICA, legal_name="ACME INDUSTRIAL, S.A. DE C.V.")),
    ),
    ("REGIMEN-CATALOG", inv(), inv(receiver=who(FISICA, tax_system="609"))),
    ("REGIMEN-CATALOG", inv(), inv(issuer=who(ISSUER, tax_system="630"))),
    ("REGIMEN-PERSONA", inv(receiver=MORAL), inv(receiver=who(FISICA, tax_system="601"))),
    ("REGIMEN-PERSONA", cli(), cli(tax_id=MORAL_RFC, tax_system="612")),
    ("USO-CATALOG", inv(), inv(use="P01")),
    ("USO-CATALOG", cli(use="D01"), cli(use="P01")),
    (
        "USO-REGIMEN",
        inv(receiver=who(FISICA, tax_system="612"), use="D01"),
        inv(receiver=who(MORAL, tax_system="626"), use="D01"),
    ),
    (
        "USO-REGIMEN",
        inv(receiver=who(FISICA, tax_system="605"), use="D10"),
        inv(receiver=who(FISICA, tax_system="605"), use="G03"),
    ),
    (
        "USO-REGIMEN",
        pay(receiver=who(FISICA, use="G03")),
        pay(receiver=who(FISICA, tax_system="610", use="G03")),
    ),
    ("CP-FORMAT", inv(), inv(receiver=who(FISICA, address={"zip": "3100"}))),
    ("CP-FORMAT", inv(), inv(issuer=who(ISSUER, address={"zip": "640000"}))),
    # B. público en general and generic RFCs
    ("PUBLICO-NOMBRE", glob(), inv(receiver=who(FISICA, legal_name="Público en General"))),
    ("PUBLICO-NOMBRE", cli(), cli(legal_name="PUBLICO EN GENERAL")),
    ("GENERIC-REGIMEN-616", glob(), glob(receiver=who(PUBLICO, tax_system="612"))),
    ("GENERIC-CP", glob(), glob(receiver=who(PUBLICO, address={"zip": "03100"}))),
    ("GENERIC-CP", glob(), glob(issuer=who(ISSUER, address={}))),  # unknown issuer zip: a warning
    ("GENERIC-USO", glob(), glob(use="G03")),
    ("GENERIC-USO", egr(receiver=PUBLICO), egr(receiver=PUBLICO, use="G03")),
    ("GENERIC-USO", inv(receiver=EXTRANJERO, use="S01"), inv(receiver=EXTRANJERO, use="G01")),
    (
        "XEXX-RESIDENCIA",
        inv(receiver=EXTRANJERO, use="S01"),
        inv(receiver=who(EXTRANJERO, address={"zip": "64000", "country": "MEX"}), use="S01"),
    ),
    # C. factura global
    ("GLOBAL-REQUIRED", glob(), glob(**{"global": None})),
    ("GLOBAL-REQUIRED", inv(), inv(**{"global": GLOBAL["global"]})),
    ("GLOBAL-REQUIRED", egr(receiver=PUBLICO), egr(receiver=PUBLICO, **{"global": GLOBAL["global"]})),
    ("GLOBAL-PERIOD", glob(), glob(**{"global": {"periodicity": "06", "months": "10", "year": 2026}})),
    ("GLOBAL-PERIOD", rec(periodicity="month"), rec(periodicity="yearly")),
    (
        "GLOBAL-BIMESTRAL-621",
        glob(issuer=RIF_ISSUER, **{"global": {"periodicity": "05", "months": "17", "year": 2026}}),
        glob(**{"global": {"periodicity": "05", "months": "17", "year": 2026}}),
    ),
    ("GLOBAL-BIMESTRAL-621", rec(issuer=RIF_ISSUER, periodicity="two_months"), rec(periodicity="two_months")),
    ("GLOBAL-MESES", glob(), glob(**{"global": {"periodicity": "04", "months": "13", "year": 2026}})),
    ("GLOBAL-MESES", glob(), glob(**{"global": {"periodicity": "04", "months": 10, "year": 2026}})),
    ("GLOBAL-ANIO", glob(), glob(**{"global": {"periodicity": "04", "months": "10", "year": 2027}})),
    ("GLOBAL-ANIO", glob(), glob(**{"global": {"periodicity": "04", "months": "10", "year": 2018}})),
    ("GLOBAL-ANIO", glob(), glob(**{"global": {"periodicity": "04", "months": "10", "year": 2023}})),  # warn
    ("GLOBAL-FILL", glob(), glob(item={"product_key": "80141503"})),
    ("GLOBAL-FILL", glob(), glob(payment_method="PPD", payment_form="99")),
    (
        "GLOBAL-NO-RETENCIONES",
        glob(),
        glob(item={"taxes": [IVA16, {"type": "ISR", "rate": 0.1, "withholding": True}]}),
    ),
    (
        "GLOBAL-NO-RETENCIONES",
        rec(),
        rec(item={"taxes": [IVA16, {"type": "IVA", "rate": 0.106667, "withholding": True}]}),
    ),
    ("GLOBAL-EGRESO", egr(receiver=PUBLICO), egr(receiver=PUBLICO, related_documents=None)),
    # D. forma × método
    ("FORMA-CATALOG", inv(), inv(payment_form="07")),
    ("FORMA-CATALOG", pay(), pay(payment_form="98")),
    ("FORMA-CATALOG", rec(), rec(payment_form="3")),
    ("METODO-CATALOG", inv(), inv(payment_method="PPU")),
    (
        "PPD-FORMA-99",
        inv(payment_method="PPD", payment_form="99"),
        inv(payment_method="PPD", payment_form="03"),
    ),
    ("PUE-FORMA-NOT-99", inv(), inv(payment_form="99")),
    ("PUE-FORMA-NOT-99", pay(), pay(payment_form="99")),
    ("PUE-FORMA-NOT-99", rec(), rec(payment_form="99")),
    ("PUE-MONTH", inv(payment_method="PPD", payment_form="99"), inv()),
    (
        "PAGO-FORMA",
        pay(automation_type="ppd_invoice_and_complement"),
        pay(automation_type="ppd_invoice_and_complement", payment_form="99"),
    ),
    # E. per comprobante type
    ("EGRESO-USO", egr(), egr(use="G03")),
    ("EGRESO-METODO", egr(payment_form="15"), egr(payment_method="PPD", payment_form="99")),
    ("EGRESO-FORMA", egr(payment_form="15"), egr(payment_form="99")),
    ("TAX-BASE-POSITIVE", inv(item={"discount": 1999.99}), inv(item={"discount": 2000})),
    ("EGRESO-RELACION", egr(), egr(related_documents=None)),
    ("EGRESO-RELACION", egr(), egr(related_documents=[{"relationship": "04", "documents": [UUID_A]}])),
    ("RELACION-CATALOG", egr(), egr(related_documents=[{"relationship": "09", "documents": [UUID_A]}])),
    (
        "RELACION-CATALOG",
        inv(related_documents=[{"relationship": "04", "documents": [UUID_A]}]),
        inv(related_documents=[{"relationship": "05", "documents": [UUID_A]}]),
    ),
    ("RELACION-CATALOG", egr(), egr(related_documents=[{"relationship": "01", "documents": ["A-124"]}])),
    ("RELACION-CATALOG", egr(), egr(related_documents=[{"relationship": "01", "documents": []}])),
    ("EXPORTACION", inv(exports="01"), inv(exports="02")),
    ("EXPORTACION", inv(exports="03"), inv(exports="05")),
    ("MONEDA-TC", inv(currency="USD", exchange_rate=17.25), inv(currency="USD")),
    ("MONEDA-TC", inv(exchange_rate=1), inv(exchange_rate=17.25)),
    ("MONEDA-TC", inv(currency="EUR", exchange_rate=19.1), inv(currency="EURO", exchange_rate=19.1)),
    ("MONEDA-TC", pay(currency="USD", exchange_rate=17.25), pay(currency="USD", exchange_rate=0)),
    ("NO-NEGATIVES", inv(), inv(item={"unit_price": -1000})),
    ("NO-NEGATIVES", egr(), egr(item={"unit_price": 0})),
    ("NO-NEGATIVES", inv(item={"quantity": 0.5}), inv(item={"quantity": 0})),
    ("NO-NEGATIVES", inv(item={"discount": 1999.99}), inv(item={"discount": 2000.01})),
    ("NO-NEGATIVES", rec(), rec(item={"discount": -5})),
    # F. taxes
    ("OBJETOIMP", inv(item={"taxability": "01", "taxes": []}), inv(item={"taxes": []})),
    ("OBJETOIMP", inv(item={"taxability": "03", "taxes": []}), inv(item={"taxability": "03"})),
    (
        "OBJETOIMP",
        inv(item={"taxability": "06", "taxes": tax(type="ISR", rate=0.1, withholding=True)}),
        inv(item={"taxability": "06"}),
    ),
    (
        "OBJETOIMP",
        inv(item={"taxability": "07", "taxes": tax(type="IEPS", rate=0.265)}),
        inv(item={"taxability": "07"}),
    ),
    ("OBJETOIMP", inv(), inv(item={"taxability": "09"})),
    ("OBJETOIMP", pay(item={"id": "service_consultoria", "taxes": None}), pay(item={"taxes": []})),
    (
        "FACTOR-EXENTO",
        inv(item={"taxes": [{"type": "IVA", "factor": "Exento"}]}),
        inv(item={"taxes": [{"type": "IVA", "factor": "Exento", "rate": 0.16}]}),
    ),
    ("FACTOR-EXENTO", inv(), inv(item={"taxes": [{"type": "IVA", "factor": "Exento", "withholding": True}]})),
    ("FACTOR-EXENTO", inv(), inv(item={"taxes": [{"type": "IVA", "factor": "Tasa"}]})),
    ("TASA-CATALOG", inv(), inv(item={"taxes": tax(type="IVA", rate=0.15)})),
    (
        "TASA-CATALOG",
        inv(item={"taxes": tax(type="iva", rate=0)}),
        inv(item={"taxes": tax(type="ISR", rate=0.1)}),
    ),
    (
        "TASA-CATALOG",
        inv(item={"taxes": tax(type="ISR", rate=0.35, withholding=True)}),
        inv(item={"taxes": tax(type="ISR", rate=0.36, withholding=True)}),
    ),
    (
        "TASA-CATALOG",
        inv(item={"taxes": tax(type="IVA", rate=0.16, withholding=True)}),
        inv(item={"taxes": tax(type="IVA", rate=0.17, withholding=True)}),
    ),
    (
        "TASA-CATALOG",
        inv(item={"taxes": tax(type="IEPS", rate=0.53)}),
        inv(item={"taxes": tax(type="IEPS", rate=0.54)}),
    ),
    (
        "TASA-CATALOG",
        inv(item={"taxes": tax(type="IEPS", factor="Cuota", rate=72.1605)}),
        inv(item={"taxes": tax(type="IEPS", factor="Cuota", rate=72.2)}),
    ),
    (
        "TASA-CATALOG",
        inv(item={"taxes": tax(type="IEPS", rate=0.03)}),
        inv(item={"taxes": tax(type="IEPS", rate=0.03, withholding=True)}),
    ),
    ("TASA-CATALOG", inv(), inv(item={"taxes": tax(type="IVA", factor="Cuota", rate=1.5)})),
    ("TASA-CATALOG", inv(), inv(item={"taxes": tax(type="IVA", factor="Porcentaje", rate=0.16)})),
    ("TASA-CATALOG", inv(), inv(item={"taxes": tax(type="ISH", rate=0.03)})),
    ("TASA-CATALOG", inv(), inv(item={"taxes": [{"type": "ISR", "factor": "Exento"}]})),
    (
        "IVA-FRONTERA",
        inv(issuer=BORDER_ISSUER, item={"taxes": tax(type="IVA", rate=0.08)}),
        inv(item={"taxes": tax(type="IVA", rate=0.08)}),
    ),
    (
        "RET-COMMON",
        inv(
            receiver=MORAL,
            item={
                "taxes": [
                    IVA16,
                    *tax(type="ISR", rate=0.1, withholding=True),
                    *tax(type="IVA", rate=0.106667, withholding=True),
                ]
            },
        ),
        inv(receiver=MORAL, item={"taxes": [IVA16, *tax(type="IVA", rate=0.1067, withholding=True)]}),
    ),
    (
        "RESICO-ISR",
        inv(
            receiver=MORAL,
            issuer=RESICO_ISSUER,
            item={"taxes": [IVA16, *tax(type="ISR", rate=0.0125, withholding=True)]},
        ),
        inv(receiver=MORAL, issuer=RESICO_ISSUER),
    ),
    (
        "RESICO-ISR",
        inv(receiver=FISICA, issuer=RESICO_ISSUER),
        inv(
            receiver=MORAL,
            issuer=RESICO_ISSUER,
            item={"taxes": [IVA16, *tax(type="ISR", rate=0.1, withholding=True)]},
        ),
    ),
    # G. cancellation
    ("CANCEL-MOTIVO", cancel("02"), cancel("05")),
    ("CANCEL-MOTIVO", cancel("03"), cancel(None)),
    ("CANCEL-01-UUID", cancel("01", UUID_B, invoice_doc()), cancel("01")),
    ("CANCEL-01-UUID", cancel("01", UUID_B, invoice_doc()), cancel("01", UUID_A, invoice_doc())),
    ("CANCEL-01-UUID", cancel("01", UUID_B), cancel("01", "not-a-uuid")),
    ("CANCEL-01-UUID", cancel("02"), cancel("02", UUID_B)),
    (
        "CANCEL-04-GLOBAL",
        cancel("04", invoice=invoice_doc(client={"tax_id": "XAXX010101000"})),
        cancel("04", invoice=invoice_doc()),
    ),
    (
        "CANCEL-ACEPTACION",
        cancel("02", invoice=invoice_doc(days_ago=10, total=999.99)),
        cancel("02", invoice=invoice_doc(days_ago=10)),
    ),
    (
        "CANCEL-ACEPTACION",
        cancel("02", invoice=invoice_doc(days_ago=1)),
        cancel("02", invoice=invoice_doc(days_ago=10, total=100, exchange_rate=17)),
    ),
    ("CANCEL-ACEPTACION", cancel("02", invoice=invoice_doc(days_ago=30, invoice_type="E")), cancel("02")),
    (
        "CANCEL-PLAZO",
        cancel("02", invoice=invoice_doc(days_ago=300)),
        cancel("02", invoice=invoice_doc(days_ago=400)),
    ),
]


def outcome(call) -> tuple[list[Violation], list[GuardWarning]]:
    try:
        return [], call()
    except RuleViolation as exc:
        return exc.violations, []


def _case_id(case: tuple[str, Any, Any]) -> str:
    return case[0]


@pytest.mark.parametrize("rule_id, ok, bad", CASES, ids=[_case_id(c) for c in CASES])
def test_passing_case_raises_nothing_for_the_rule(rule_id, ok, bad):
    violations, warnings = outcome(ok)
    assert violations == [], [str(v) for v in violations]
    assert rule_id not in {w.rule_id for w in warnings}


@pytest.mark.parametrize("rule_id, ok, bad", CASES, ids=[_case_id(c) for c in CASES])
def test_failing_case_names_the_rule(rule_id, ok, bad):
    violations, warnings = outcome(bad)
    found = {v.rule_id for v in violations} | {w.rule_id for w in warnings}
    assert rule_id in found, [str(f) for f in violations + warnings]
    if RULES[rule_id].severity is Severity.WARN:
        assert rule_id not in {v.rule_id for v in violations}


def test_every_rule_has_cases_and_blocking_rules_block():
    assert set(RULES) == {c[0] for c in CASES}
    blocked = {v.rule_id for _, _, bad in CASES for v in outcome(bad)[0]}
    assert blocked == {rid for rid, r in RULES.items() if r.severity is not Severity.WARN}


def test_every_rule_of_the_research_note_is_checked_or_explained():
    """The rule IDs of cfdi-rules.md (2026-11), verbatim."""
    research = [
        "RFC-FORMAT",
        "RFC-CHECKDIGIT",
        "RFC-GENERIC",
        "PERSONA-FROM-RFC",
        "REGIMEN-CATALOG",
        "REGIMEN-PERSONA",
        "USO-CATALOG",
        "USO-REGIMEN",
        "RECEPTOR-PADRON",
        "CP-FORMAT",
        "PUBLICO-NOMBRE",
        "GENERIC-REGIMEN-616",
        "GENERIC-CP",
        "GENERIC-USO",
        "XEXX-RESIDENCIA",
        "GLOBAL-REQUIRED",
        "GLOBAL-PERIOD",
        "GLOBAL-BIMESTRAL-621",
        "GLOBAL-MESES",
        "GLOBAL-ANIO",
        "GLOBAL-FILL",
        "GLOBAL-NO-RETENCIONES",
        "GLOBAL-EGRESO",
        "FORMA-CATALOG",
        "METODO-CATALOG",
        "PPD-FORMA-99",
        "PUE-FORMA-NOT-99",
        "PUE-MONTH",
        "FORMA-MAYOR",
        "TP-NO-FORMA",
        "TP-NO-METODO",
        "EGRESO-FORMA",
        "PAGO-P",
        "PAGO-FORMA",
        "PAGO-FOR-PPD",
        "EGRESO-USO",
        "NOMINA-N",
        "RELACION-CATALOG",
        "EXPORTACION",
        "MONEDA-TC",
        "NO-NEGATIVES",
        "OBJETOIMP",
        "IMPUESTOS-NONEMPTY",
        "FACTOR-EXENTO",
        "TASA-CATALOG",
        "IVA-FRONTERA",
        "IVA-EXENTO",
        "RESICO-ISR",
        "RET-COMMON",
        "TP-NO-IMPUESTOS",
        "CANCEL-MOTIVO",
        "CANCEL-01-UUID",
        "CANCEL-01-FALLBACK",
        "CANCEL-04-GLOBAL",
        "CANCEL-ACEPTACION",
        "CANCEL-CONFIRM",
        "CANCEL-PLAZO",
    ]
    assert set(research) <= set(RULES) | set(NOT_CHECKED)
    assert not set(RULES) & set(NOT_CHECKED)
    # EGRESO-RELACION split out of EGRESO-USO (warn, not policy); EGRESO-METODO from Anexo 20 Apéndice 5;
    # TAX-BASE-POSITIVE is the CFDI40174/40181 half of IMPUESTOS-NONEMPTY.
    assert set(RULES) - set(research) == {"EGRESO-RELACION", "EGRESO-METODO", "TAX-BASE-POSITIVE"}


def test_violation_text_names_rule_field_value_allowed_in_both_languages():
    with pytest.raises(RuleViolation) as err:
        inv(receiver=who(MORAL, tax_system="610"), use="G03")()
    text = str(err.value)
    assert '[USO-REGIMEN] use = "G03"' in text
    assert "allowed/permitido: S01, CP01" in text
    assert "Uso G03 is not allowed for a receiver with régimen 610 persona moral" in text
    assert "El uso G03 no aplica a un receptor con régimen 610 persona moral" in text
    assert err.value.rule_ids == ["USO-REGIMEN"]
    v = err.value.violations[0]
    assert (v.rule_id, v.field, v.value, v.allowed) == ("USO-REGIMEN", "use", "G03", "S01, CP01")
    assert v.severity is Severity.BLOCK


def test_all_violations_are_reported_together():
    with pytest.raises(RuleViolation) as err:
        inv(
            use="P01",
            payment_method="PPD",
            payment_form="03",
            item={"unit_price": -5, "taxes": tax(type="IVA", rate=0.15)},
        )()
    assert {"USO-CATALOG", "PPD-FORMA-99", "NO-NEGATIVES", "TASA-CATALOG"} <= set(err.value.rule_ids)


def test_policy_is_blocked_by_default_and_a_warning_when_allowed():
    with pytest.raises(RuleViolation) as err:
        inv(payment_form="99")()
    assert err.value.violations[0].severity is Severity.POLICY
    warnings = inv(payment_form="99", allow_policy=True)()
    assert "PUE-FORMA-NOT-99" in {w.rule_id for w in warnings}
    with pytest.raises(RuleViolation):  # BLOCK rules still block
        inv(payment_form="07", allow_policy=True)()


def test_receiver_comes_from_the_inline_client_when_not_given():
    inline = {**FISICA, "tax_system": "601"}
    with pytest.raises(RuleViolation) as err:
        check_invoice(body(INVOICE, client=inline), "I", None, ISSUER, TODAY)
    assert err.value.violations[0].field == "client.tax_system"
    # a client reference only: nothing known about the receiver, nothing guessed
    assert {w.rule_id for w in check_invoice(body(INVOICE), "I", None, None, TODAY)} == {"PUE-MONTH"}


def test_uso_falls_back_to_the_clients_default():
    with pytest.raises(RuleViolation) as err:
        check_invoice(body(INVOICE, use=None), "I", who(MORAL, use="D01"), ISSUER, TODAY)
    assert (err.value.violations[0].rule_id, err.value.violations[0].field) == ("USO-REGIMEN", "client.use")


def test_client_update_is_checked_against_the_stored_client():
    with pytest.raises(RuleViolation) as err:
        check_client({"tax_system": "601"}, current=FISICA)
    assert err.value.rule_ids == ["REGIMEN-PERSONA"] and err.value.violations[0].field == "tax_system"
    assert check_client({"email": "x@example.com"}, current=FISICA) == []
    assert check_client({"name": "Sin datos", "email": "x@example.com"}) == []


def test_receipt_stamp_checks_the_fiscal_information_override():
    assert check_receipt_stamp({"stamp_to": "general_public_national"}) == []
    assert check_receipt_stamp({"stamp_to": "client"}, FISICA, ISSUER) == []
    with pytest.raises(RuleViolation) as err:
        check_receipt_stamp(
            {
                "stamp_to": "client",
                "fiscal_information": {"tax_id": MORAL_RFC, "tax_system": "612", "zip": "0310"},
            },
            FISICA,
        )
    assert {(v.rule_id, v.field) for v in err.value.violations} == {
        ("REGIMEN-PERSONA", "fiscal_information.tax_system"),
        ("CP-FORMAT", "fiscal_information.zip"),
    }


def test_payment_request_without_form_is_fine_and_register_with_99_is_not():
    request = body(REGISTER, payment_form=None, automation_type="none")
    assert check_payment(request, FISICA, ISSUER, TODAY) == []
    with pytest.raises(RuleViolation):
        check_payment(body(REGISTER, payment_form="99"), FISICA, ISSUER, TODAY)


def test_payment_receiver_is_only_checked_when_an_invoice_follows():
    bad = who(FISICA, tax_system="601")
    assert check_payment(body(REGISTER, automation_type="none"), bad, ISSUER, TODAY) == []
    with pytest.raises(RuleViolation) as err:  # register defaults to pue_invoice
        check_payment(body(REGISTER, automation_type=None), bad, ISSUER, TODAY)
    assert err.value.rule_ids == ["REGIMEN-PERSONA"]
    request = body(REGISTER, payment_form=None, automation_type=None)  # a payment link defaults to none
    assert check_payment(request, bad, ISSUER, TODAY) == []
    # a payment that feeds a PPD complement (ppd_invoice_and_complement) cannot have form 99
    with pytest.raises(RuleViolation) as err:
        check_payment(body(REGISTER, automation_type="ppd_invoice_and_complement", payment_form="99"), FISICA)
    assert err.value.rule_ids == ["PAGO-FORMA"]


def test_warnings_are_readable_strings():
    (w,) = inv(item={"taxes": tax(type="IVA", rate=0.08)}, payment_method="PPD", payment_form="99")()
    assert isinstance(w, GuardWarning) and not isinstance(w, Violation)
    assert str(w).startswith("[IVA-FRONTERA] items[0].taxes[0].rate = 0.08")
    assert "border region" in str(w) and "región fronteriza" in str(w)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
KEYS = st.sampled_from(
    [
        "client",
        "items",
        "global",
        "related_documents",
        "currency",
        "exchange_rate",
        "use",
        "payment_form",
        "payment_method",
        "exports",
        "complements",
        "automation_type",
        "periodicity",
        "quantity",
        "unit_price",
        "discount",
        "taxability",
        "taxes",
        "type",
        "rate",
        "factor",
        "withholding",
        "id",
        "tax_id",
        "tax_system",
        "legal_name",
        "address",
        "zip",
        "country",
        "months",
        "year",
        "relationship",
        "documents",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(KEYS, JSON, max_size=5),
    st.dictionaries(KEYS, JSON, max_size=4),
    st.dictionaries(KEYS, JSON, max_size=4),
    JSON,
)
def test_any_json_only_ever_raises_rule_violation(top, item, tax_fields, other):
    b = body(GLOBAL, item=item)
    b.update(top)
    if isinstance(b.get("items"), list) and b["items"] and isinstance(b["items"][0], dict):
        taxes = b["items"][0].get("taxes")
        if isinstance(taxes, list) and taxes and isinstance(taxes[0], dict):
            taxes[0].update(tax_fields)
    calls = [
        lambda: check_invoice(b, "I", top, tax_fields, TODAY),
        lambda: check_invoice(b, "E", other, other, TODAY),
        lambda: check_payment(b, other, item, TODAY),
        lambda: check_receipt(b, other, TODAY),
        lambda: check_receipt_stamp({"stamp_to": "client", "fiscal_information": other}, top),
        lambda: check_client(top, item, other),
        lambda: check_cancel(other, other, top, TODAY),
        lambda: check_cancel(
            "01", other, {"uuid": other, "created_at": other, "total": other, "client": other}
        ),
    ]
    for call in calls:
        with contextlib.suppress(RuleViolation):
            assert isinstance(call(), list)


# -- property tests ------------------------------------------------------------------------------------

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWYZ&Ñ"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
REGIMENES = load("regimen_fiscal")["rows"]
USOS = load("uso_cfdi")["rows"]
FORMAS = [r["code"] for r in load("forma_pago")["rows"]]
NAMES = ["JUAN PEREZ GARCIA", "MARIA LOPEZ", "COMERCIAL DEL NORTE", "GRUPO ALFA", "LUCIA GOMEZ RUIZ"]
ZIPS = st.integers(0, 99_999).map("{:05d}".format)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def usos_for(regimen: str, persona: str) -> list[str]:
    """Straight from the catalog columns (the oracle, independent of the module's helper)."""
    return [u["code"] for u in USOS if u[f"persona_{persona}"] and regimen in u["regimenes_receptor"]]


# Strategies are built once (building them inside @composite draws is what makes hypothesis slow).
PERSONAS = st.sampled_from(["fisica", "moral"])
REGIMEN_OF = {p: st.sampled_from([r["code"] for r in REGIMENES if r[p]]) for p in ("fisica", "moral")}
USO_OF = {
    (r["code"], p): st.sampled_from(usos_for(r["code"], p))
    for r in REGIMENES
    for p in ("fisica", "moral")
    if r[p]
}
PREFIX_OF = {
    "fisica": st.text(LETTERS, min_size=4, max_size=4),
    "moral": st.text(LETTERS, min_size=3, max_size=3),
}
BIRTHDAYS = st.dates(date(1930, 1, 1), date(2025, 12, 31))
HOMOCLAVES = st.text(ALNUM, min_size=2, max_size=2)
NAME = st.sampled_from(NAMES)
FORM_NOT_99 = st.sampled_from([f for f in FORMAS if f != "99"])
QUANTITIES = st.integers(1, 10_000_000).map(lambda n: n / 1000)
PRICES = st.integers(1, 100_000_000).map(lambda n: n / 100)
FRACTIONS = st.floats(0, 1)
NO_TAX_OBJECTS = st.sampled_from(["01", "03", "04", "05"])
GLOBAL_TAXES = st.lists(
    st.sampled_from([0.16, 0.0]).map(lambda r: {"type": "IVA", "rate": r}), min_size=1, max_size=2
)
CURRENCY = st.sampled_from(["MXN", "MXN", "USD", "EUR"])
MXN_FORMS = st.sampled_from([{"currency": "MXN"}, {"currency": "MXN", "exchange_rate": 1}, {}])
RATES = st.integers(1, 1_000_000).map(lambda n: n / 10_000)
EGRESS_RELATIONS = st.sampled_from(["01", "03", "07"])
UUIDS = st.uuids().map(lambda u: str(u).upper())
MONTHLY = st.sampled_from([f"{m:02d}" for m in range(1, 13)])
BIMESTERS = st.sampled_from([str(m) for m in range(13, 19)])
PERIODS = st.sampled_from(["01", "02", "03", "04"])
YEARS = st.sampled_from([TODAY.year, TODAY.year - 1])


def _rate(lo: float, hi: float):
    return st.integers(round(lo * 1e6), round(hi * 1e6)).map(lambda n: n / 1e6)


VALID_TAXES = st.lists(
    st.one_of(
        st.sampled_from([0.16, 0.0]).map(
            lambda r: {"type": "IVA", "rate": r, "factor": "Tasa", "withholding": False}
        ),
        st.just({"type": "IVA", "factor": "Exento"}),
        _rate(0, 0.16).map(lambda r: {"type": "IVA", "rate": r, "withholding": True}),
        _rate(0, 0.35).map(lambda r: {"type": "ISR", "rate": r, "withholding": True}),
        st.sampled_from([0.265, 0.3, 0.53, 0.5, 1.6, 0.304, 0.25, 0.09, 0.08, 0.07, 0.06, 0.03, 0.0]).map(
            lambda r: {"type": "IEPS", "rate": r}
        ),
        _rate(0, 72.1605).map(lambda r: {"type": "IEPS", "factor": "Cuota", "rate": r}),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def receivers(draw) -> dict[str, Any]:
    persona = draw(PERSONAS)
    regimen = draw(REGIMEN_OF[persona])
    rfc = with_check_digit(draw(PREFIX_OF[persona]) + draw(BIRTHDAYS).strftime("%y%m%d") + draw(HOMOCLAVES))
    return {
        "tax_id": rfc,
        "tax_system": regimen,
        "legal_name": draw(NAME),
        "use": draw(USO_OF[regimen, persona]),
        "address": {"zip": draw(ZIPS), "country": "MEX"},
        "_persona": persona,
    }


@st.composite
def items(draw, global_: bool = False) -> dict[str, Any]:
    quantity = 1 if global_ else draw(QUANTITIES)
    price = draw(PRICES)
    item: dict[str, Any] = {
        "description": "x",
        "quantity": quantity,
        "unit_price": price,
        "product_key": "01010101" if global_ else "80141503",
        "unit_key": "ACT" if global_ else "E48",
    }
    if global_:
        item |= {"taxability": "02", "taxes": draw(GLOBAL_TAXES)}
    elif draw(st.booleans()):
        item |= {"taxability": "02", "taxes": draw(VALID_TAXES)}
    else:
        item |= {"taxability": draw(NO_TAX_OBJECTS), "taxes": []}
    if draw(st.booleans()):
        item["discount"] = math.floor(quantity * price * draw(FRACTIONS) * 100) / 100
        if item["taxes"] and item["discount"] >= round(quantity * price, 2):
            del item["discount"]  # a taxed item keeps a positive base (CFDI40174)
    return item


ITEMS = st.lists(items(), min_size=1, max_size=3)
GLOBAL_ITEMS = st.lists(items(global_=True), min_size=1, max_size=4)


@st.composite
def valid_invoices(draw) -> tuple[dict[str, Any], str, dict[str, Any]]:
    kind = draw(st.sampled_from(["I", "E"]))
    receiver = draw(receivers())
    if kind == "E" or draw(st.booleans()):  # a credit note is PUE (Anexo 20 Apéndice 5)
        terms = {"payment_method": "PUE", "payment_form": draw(FORM_NOT_99)}
    else:
        terms = {"payment_method": "PPD", "payment_form": "99"}
    currency = draw(CURRENCY)
    money = draw(MXN_FORMS) if currency == "MXN" else {"currency": currency, "exchange_rate": draw(RATES)}
    inv_body: dict[str, Any] = {
        "client": {"id": "client_x"},
        "use": receiver["use"],
        **terms,
        **money,
        "items": draw(ITEMS),
    }
    if kind == "E":
        inv_body["related_documents"] = [{"relationship": draw(EGRESS_RELATIONS), "documents": [draw(UUIDS)]}]
    elif draw(st.booleans()):
        inv_body["related_documents"] = [{"relationship": "04", "documents": [draw(UUIDS)]}]
    if draw(st.booleans()):
        inv_body["exports"] = "01"
    return inv_body, kind, receiver


@st.composite
def valid_globals(draw) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    bimonthly = draw(st.booleans())
    issuer = deepcopy(RIF_ISSUER if bimonthly else ISSUER)
    issuer["address"]["zip"] = draw(ZIPS)
    period, months = ("05", draw(BIMESTERS)) if bimonthly else (draw(PERIODS), draw(MONTHLY))
    receiver = {**deepcopy(PUBLICO), "address": {"zip": issuer["address"]["zip"]}}
    gbody = {
        "client": {"id": "client_publico_general"},
        "payment_method": "PUE",
        "payment_form": draw(FORM_NOT_99),
        "use": "S01",
        "global": {"periodicity": period, "months": months, "year": draw(YEARS)},
        "items": draw(GLOBAL_ITEMS),
    }
    return gbody, receiver, issuer


def _check(b, kind, receiver, issuer=ISSUER):
    return check_invoice(b, kind, {k: v for k, v in receiver.items() if k != "_persona"}, issuer, TODAY)


@PROPERTY
@given(valid_invoices())
def test_generated_valid_invoices_pass(case):
    b, kind, receiver = case
    warnings = _check(b, kind, receiver)
    assert {w.rule_id for w in warnings} <= {r for r, x in RULES.items() if x.severity is Severity.WARN}


@PROPERTY
@given(valid_globals())
def test_generated_valid_global_invoices_pass(case):
    b, receiver, issuer = case
    assert _check(b, "I", receiver, issuer) == []


def _perturb(data, b: dict[str, Any], kind: str, receiver: dict[str, Any]) -> str:
    """Change one field of a valid invoice so that exactly one known rule breaks; return its ID."""
    persona, regimen = receiver["_persona"], receiver["tax_system"]
    item = data.draw(st.sampled_from(b["items"]))
    choice = data.draw(st.sampled_from(range(19)))
    match choice:
        case 0:
            receiver["tax_id"] = (
                receiver["tax_id"][:-7]
                + data.draw(st.sampled_from(["991301", "990230", "99AB01"]))
                + receiver["tax_id"][-3:]
            )
            return "RFC-FORMAT"
        case 1:
            receiver["tax_system"] = data.draw(st.sampled_from(["609", "628", "629", "630", "600", "999"]))
            return "REGIMEN-CATALOG"
        case 2:
            receiver["tax_system"] = data.draw(
                st.sampled_from([r["code"] for r in REGIMENES if not r[persona]])
            )
            return "REGIMEN-PERSONA"
        case 3:
            b["use"] = data.draw(st.sampled_from(["P01", "G04", "D11", "CN02", "g03"]))
            return "USO-CATALOG"
        case 4:
            b["use"] = data.draw(
                st.sampled_from([u["code"] for u in USOS if u["code"] not in usos_for(regimen, persona)])
            )
            return "USO-REGIMEN"
        case 5:
            receiver["address"]["zip"] = data.draw(
                st.sampled_from(["0310", "1", "031000", "0310A", "03 100"])
            )
            return "CP-FORMAT"
        case 6:
            b["payment_form"] = data.draw(
                st.sampled_from(["07", "09", "10", "11", "16", "98", "00", "32", "3"])
            )
            return "FORMA-CATALOG"
        case 7:
            b["payment_method"] = data.draw(st.sampled_from(["PPU", "pue", "CREDITO", "PIP"]))
            return "METODO-CATALOG"
        case 8:
            b["payment_method"] = "PPD"
            b["payment_form"] = data.draw(st.sampled_from([f for f in FORMAS if f != "99"]))
            return "PPD-FORMA-99"
        case 9:
            b["payment_method"], b["payment_form"] = "PUE", "99"
            return "EGRESO-FORMA" if kind == "E" else "PUE-FORMA-NOT-99"
        case 10:
            b["currency"] = "MXN"
            b["exchange_rate"] = data.draw(st.floats(0.01, 50).filter(lambda x: x != 1))
            return "MONEDA-TC"
        case 11:
            b["currency"] = data.draw(st.sampled_from(["USD", "EUR", "JPY"]))
            b.pop("exchange_rate", None) if data.draw(st.booleans()) else b.update(
                exchange_rate=data.draw(st.sampled_from([0, -1, "x"]))
            )
            return "MONEDA-TC"
        case 12:
            key = data.draw(st.sampled_from(["unit_price", "quantity"]))
            item[key] = data.draw(st.floats(-1e6, 0))
            return "NO-NEGATIVES"
        case 13:
            if item.get("taxes"):
                item["taxability"] = data.draw(st.sampled_from(["01", "03", "04", "05"]))
            else:
                item["taxability"] = "02"
            return "OBJETOIMP"
        case 14:
            rate = data.draw(_rate(0, 2).filter(lambda r: r not in (0.0, 0.08, 0.16)))
            item["taxability"], item["taxes"] = "02", [{"type": "IVA", "rate": rate}]
            return "TASA-CATALOG"
        case 15:
            item["taxability"], item["taxes"] = "02", [{"type": "ISR", "rate": data.draw(_rate(0, 0.35))}]
            return "TASA-CATALOG"
        case 16:
            item["taxability"] = "02"
            item["taxes"] = [
                {
                    "type": data.draw(st.sampled_from(["IVA", "IEPS"])),
                    "factor": "Exento",
                    "rate": data.draw(_rate(0, 0.16)),
                }
            ]
            return "FACTOR-EXENTO"
        case 17:
            b["related_documents"] = [
                {"relationship": data.draw(st.sampled_from(["08", "09", "00", "1"])), "documents": [UUID_A]}
            ]
            return "RELACION-CATALOG"
        case _:
            b["global"] = {"periodicity": "04", "months": "01", "year": TODAY.year}
            return "GLOBAL-REQUIRED"


@PROPERTY
@given(valid_invoices(), st.data())
def test_one_field_perturbed_fails_with_the_expected_rule(case, data):
    b, kind, receiver = deepcopy(case)
    expected = _perturb(data, b, kind, receiver)
    with pytest.raises(RuleViolation) as err:
        _check(b, kind, receiver)
    assert expected in err.value.rule_ids, str(err.value)


@PROPERTY
@given(valid_globals(), st.data())
def test_one_field_of_a_global_invoice_perturbed_fails_with_the_expected_rule(case, data):
    b, receiver, issuer = deepcopy(case)
    choice = data.draw(st.sampled_from(range(9)))
    glob_ = b["global"]
    match choice:
        case 0:
            del b["global"]
            expected = "GLOBAL-REQUIRED"
        case 1:
            glob_["year"] = data.draw(st.integers(TODAY.year + 1, 2100) | st.integers(1900, TODAY.year - 6))
            expected = "GLOBAL-ANIO"
        case 2:
            glob_["months"] = data.draw(
                st.sampled_from(["13", "18"] if glob_["periodicity"] != "05" else ["01", "12"])
            )
            expected = "GLOBAL-MESES"
        case 3:
            glob_["periodicity"], glob_["months"] = "05", "13"
            issuer = ISSUER
            receiver["address"]["zip"] = ISSUER["address"]["zip"]
            expected = "GLOBAL-BIMESTRAL-621"
        case 4:
            b["items"][0]["taxes"].append(
                {"type": "ISR", "rate": data.draw(_rate(0, 0.35)), "withholding": True}
            )
            expected = "GLOBAL-NO-RETENCIONES"
        case 5:
            b["use"] = data.draw(st.sampled_from(["G01", "G02", "G03", "CP01"]))
            expected = "GENERIC-USO"
        case 6:
            receiver["address"]["zip"] = data.draw(ZIPS.filter(lambda z: z != issuer["address"]["zip"]))
            expected = "GENERIC-CP"
        case 7:
            receiver["tax_system"] = data.draw(
                st.sampled_from([r["code"] for r in REGIMENES if r["code"] != "616"])
            )
            expected = "GENERIC-REGIMEN-616"
        case _:
            glob_["periodicity"] = data.draw(st.sampled_from(["00", "06", "4", "mensual"]))
            expected = "GLOBAL-PERIOD"
    with pytest.raises(RuleViolation) as err:
        _check(b, "I", receiver, issuer)
    assert expected in err.value.rule_ids, str(err.value)


# -- the rule table ------------------------------------------------------------------------------------


def test_rule_table_shape():
    for rule_id, r in RULES.items():
        assert isinstance(r.severity, Severity) and callable(r.check) and r.description and r.scopes
        assert (r.check.__doc__ or "").strip(), f"{rule_id}: the docstring is what the error says"
        severity, check, description = r[:3]
        assert (severity, check, description) == (r.severity, r.check, r.description)


def test_docs_guard_rails_md_is_up_to_date():
    doc = Path(__file__).resolve().parents[1] / "docs" / "guard-rails.md"
    assert doc.read_text("utf-8") == rules_markdown(), (
        "run: python -m gigstack_mcp.guards.cfdi > docs/guard-rails.md"
    )
    for rule_id in [*RULES, *NOT_CHECKED]:
        assert f"| {rule_id} |" in rules_markdown()


def test_module_prints_the_table():
    done = subprocess.run(
        [sys.executable, "-m", "gigstack_mcp.guards.cfdi"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == rules_markdown()


def test_usos_helper_matches_the_catalog_oracle():
    for r in REGIMENES:
        for persona in ("fisica", "moral"):
            assert cfdi._usos_for(r["code"], persona) == usos_for(r["code"], persona)


@PROPERTY
@given(
    st.sampled_from(["fisica", "moral"]).flatmap(lambda p: st.tuples(PREFIX_OF[p], BIRTHDAYS, HOMOCLAVES)),
    st.sampled_from("0123456789A"),
)
def test_check_digit_agrees_with_satcfdi(parts, digit):
    satcfdi_rfc = pytest.importorskip("satcfdi.models.rfc")
    letters, born, homoclave = parts
    rfc = letters + born.strftime("%y%m%d") + homoclave + digit
    assert cfdi._check_digit_ok(rfc) == satcfdi_rfc.RFC(rfc).is_valid()


def test_readme_rule_table_is_current():
    """The README's guard-rail table is generated from RULES: a new or changed rule must show there."""
    from pathlib import Path

    from gigstack_mcp.guards.cfdi import readme_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- guard-rules:start -->\n", 1)[1].split("<!-- guard-rules:end -->", 1)[0]
    assert section == readme_table()
