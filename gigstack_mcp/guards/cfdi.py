"""SAT CFDI 4.0 guard rails, checked locally on the exact JSON body gigstack takes, before any request.

Entry points (pure functions over API-shaped dicts; they never touch the network):

- `check_invoice(body, "I"|"E", receiver, issuer, today)`  POST /invoices/income, /invoices/egress
- `check_client(body, current=None, issuer=None)`          POST/PUT /clients
- `check_payment(body, receiver, issuer, today)`           POST /payments/register, /payments/request
- `check_receipt(body, issuer, today)`                     POST /receipts
- `check_receipt_stamp(body, receiver, issuer)`            POST /receipts/{id}/stamp
- `check_cancel(motive, substitution_uuid, invoice, today)` DELETE /invoices/{uuid}

`receiver` is the client's fiscal data (`{tax_id, tax_system, legal_name, use, address: {zip, country}}`,
e.g. the stored client when the body only says `client: {id}`); `issuer` is the team's
(`{tax_id, tax_system, address: {zip}}`). Anything unknown is skipped, never guessed.

Each returns the `GuardWarning`s and raises `RuleViolation` for BLOCK findings, and for POLICY findings
unless `allow_policy=True` (then they come back as warnings). `RULES` is the one table (rule ID ->
severity, check, description, scopes); `docs/guard-rails.md` is generated from it with
`python -m gigstack_mcp.guards.cfdi`. Rule IDs and severities follow the research note cfdi-rules.md.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from calendar import monthrange
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from .. import clock
from ..catalogs import load
from ..sat import global_year_range

__all__ = [
    "NOT_CHECKED",
    "RULES",
    "GuardWarning",
    "Rule",
    "RuleViolation",
    "Severity",
    "Violation",
    "check_cancel",
    "check_client",
    "check_invoice",
    "check_payment",
    "check_receipt",
    "check_receipt_stamp",
    "rules_markdown",
]

RFC_RE = re.compile(r"^[A-Z&Ñ]{3,4}[0-9]{2}(0[1-9]|1[012])(0[1-9]|[12][0-9]|3[01])[A-Z0-9]{2}[0-9A]$")
ZIP_RE = re.compile(r"^[0-9]{5}$")
UUID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$", re.IGNORECASE)
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
PUBLICO_GENERAL = "XAXX010101000"
EXTRANJERO = "XEXX010101000"
GENERIC_RFCS = (PUBLICO_GENERAL, EXTRANJERO)
PUBLICO_NOMBRE = "PUBLICO EN GENERAL"
TAX_CODES = {"ISR": "001", "IVA": "002", "IEPS": "003"}
FACTORS = ("Tasa", "Cuota", "Exento")
RECEIPT_PERIODS = {"day": "01", "week": "02", "two_weeks": "03", "month": "04", "two_months": "05"}
# RET-COMMON: usual withholding rates (cfdi-rules.md §F); anything else in range is legal but unusual.
COMMON_WITHHOLDING = {
    "ISR": {0.1: "10% honorarios/arrendamiento", 0.0125: "1.25% RESICO"},
    "IVA": {0.106667: "2/3 of 16%", 0.04: "4% autotransporte", 0.06: "6% subcontratación"},
}
ACCEPTANCE_THRESHOLD = 1000.0  # RMF 2.7.1.35: no receiver acceptance needed up to $1,000.00 MXN
_PERSONA = {"fisica": "física", "moral": "moral"}
MEXICO_TZ = clock.MEXICO
# c_UsoCFDI for régimen 616 is G02, S01, CP01; CP01 is only for payment complements (Anexo 20, UsoCFDI).
GENERIC_EGRESS_USOS = ("G02", "S01")
# Anexo 20 guía de llenado, Apéndice 5 (Emisión de CFDI de Egresos): the form the credit is given with.
EGRESS_FORMS = (
    "15 Condonación (the credited invoice is not paid yet: the debt is forgiven), 17 Compensación (offset "
    "against what the client owes), or how the money goes back: 03 transferencia, 01 efectivo, 02 cheque…"
)
INVOICING_AUTOMATIONS = {"pue_invoice", "stamp_invoice", "ppd_invoice_and_complement"}
_CORPORATE = re.compile(r"\b(SA|SAB|SAPI|SC|AC|SPR|S DE RL|S EN C|SPR DE RL|SAS)( DE (CV|RL|RI|RL DE CV))?$")


class Severity(StrEnum):
    BLOCK = "BLOCK"  # SAT/PAC rejects it (CFDI40xxx or XSD)
    POLICY = "POLICY"  # the SAT guide says so but PACs stamp anyway: blocked unless allow_policy
    WARN = "WARN"  # cannot be decided offline, or practice rather than law


# --------------------------------------------------------------------------------------------------
# Findings


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class _Finding:
    rule_id: str
    field: str
    value: Any
    allowed: str
    message_es: str
    message_en: str
    severity: Severity = Severity.BLOCK

    def __str__(self) -> str:
        allowed = f" (allowed/permitido: {self.allowed})" if self.allowed else ""
        return (
            f"[{self.rule_id}] {self.field} = {_show(self.value)}{allowed}: "
            f"{self.message_en} / {self.message_es}"
        )


@dataclass(frozen=True)
class Violation(_Finding):
    """A rule the CFDI breaks: nothing may be sent."""


@dataclass(frozen=True)
class GuardWarning(_Finding):
    """Worth telling the user; the request may still go ahead."""


class RuleViolation(Exception):
    """One or more SAT rules broken. Its str names each rule ID, field, value and the allowed values,
    in English and Spanish."""

    def __init__(self, violations: Iterable[Violation]):
        self.violations = list(violations)
        super().__init__(self.__str__())

    @property
    def rule_ids(self) -> list[str]:
        return [v.rule_id for v in self.violations]

    def __str__(self) -> str:
        head = "CFDI 4.0 rules broken / reglas CFDI 4.0 incumplidas:"
        return "\n".join([head, *(f"- {v}" for v in self.violations)])


class _F(NamedTuple):
    """What a check yields; the runner adds the rule ID and severity."""

    field: str
    value: Any
    allowed: str
    es: str
    en: str
    warn: bool = False  # a BLOCK/POLICY rule that cannot decide (missing data) only warns


# --------------------------------------------------------------------------------------------------
# Catalog lookups (package data, loaded once)


@cache
def _rows(name: str) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in load(name)["rows"]}


@cache
def _frontera() -> frozenset[str]:
    data = load("cp_estimulo_frontera")
    return frozenset(data["norte"]) | frozenset(data["sur"])


@cache
def _tasa_rows() -> tuple[dict[str, Any], ...]:
    return tuple(load("tasa_o_cuota")["rows"])


def _usos_for(regimen: str | None, persona: str | None) -> list[str]:
    flag = f"persona_{persona}" if persona else None
    return [
        code
        for code, row in _rows("uso_cfdi").items()
        if (flag is None or row[flag]) and (regimen is None or regimen in row["regimenes_receptor"])
    ]


def _regimenes_for(persona: str) -> list[str]:
    return [code for code, row in _rows("regimen_fiscal").items() if row[persona]]


def _join(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


# --------------------------------------------------------------------------------------------------
# Normalising the input


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _code(value: Any) -> str | None:
    if isinstance(value, Mapping):  # n8n v1 sent {label, value}
        value = value.get("value")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _num(value: Any) -> float | None:
    """A finite number (numeric strings accepted), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _plain(text: Any) -> str:
    """Upper case, no accents, no punctuation, single spaces: for comparing names."""
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    text = re.sub(r"[.,]", "", text)
    return " ".join(text.split())


def _fiscal(data: Any) -> dict[str, Any]:
    d = _map(data)
    address = _map(d.get("address"))
    tax_id = d.get("tax_id")
    zip_code = address.get("zip", d.get("zip"))
    return {
        "tax_id": tax_id.strip().upper() if isinstance(tax_id, str) and tax_id.strip() else None,
        "tax_system": _code(d.get("tax_system")),
        "legal_name": d.get("legal_name") if isinstance(d.get("legal_name"), str) else None,
        "use": _code(d.get("use")),
        "zip": None if zip_code in (None, "") else str(zip_code),
        "country": _code(address.get("country", d.get("country"))),
        "foreign_tax_id": _code(d.get("foreign_tax_id")),
    }


def _merge(*sources: Any) -> dict[str, Any]:
    """Later sources win, but only where they say something."""
    out: dict[str, Any] = _fiscal(None)
    for source in sources:
        out.update({k: v for k, v in _fiscal(source).items() if v is not None})
    return out


def _date_of(timestamp: Any) -> date | None:
    """An invoice's created_at (unix seconds or ms, or ISO text) as a date in Mexico."""
    number = _num(timestamp)
    try:
        if number is not None:
            seconds = number / 1000 if number > 1e11 else number
            return datetime.fromtimestamp(seconds, UTC).astimezone(MEXICO_TZ).date()
        if isinstance(timestamp, str):
            return datetime.fromisoformat(timestamp).date()
    except (ValueError, OverflowError, OSError):
        pass
    return None


@dataclass
class _Doc:
    """One request under check: the body plus what we know about receiver and issuer."""

    scope: str  # "I" | "E" | "client" | "payment" | "receipt" | "stamp" | "cancel"
    body: Mapping[str, Any]
    receiver: dict[str, Any]
    issuer: dict[str, Any]
    today: date
    prefix: str = "client."  # where the receiver's fields live in the request
    invoice: Mapping[str, Any] | None = None
    register: bool = False
    automation: str | None = None  # payments: what gigstack does once paid

    def rf(self, name: str) -> str:
        if name in ("zip", "country") and self.prefix != "fiscal_information.":
            name = f"address.{name}"
        return f"{self.prefix}{name}"

    @property
    def rfc(self) -> str | None:
        return self.receiver["tax_id"]

    @property
    def rfc_ok(self) -> bool:
        return bool(self.rfc and RFC_RE.match(self.rfc))

    @property
    def persona(self) -> str | None:
        """PERSONA-FROM-RFC: 13 characters = persona física, 12 = moral (generic RFCs are 13)."""
        return ("fisica" if len(self.rfc) == 13 else "moral") if self.rfc_ok and self.rfc else None

    @property
    def generic(self) -> str | None:
        return self.rfc if self.rfc in GENERIC_RFCS else None

    @property
    def use(self) -> tuple[str, str | None]:
        """(field, value) of the uso CFDI: the body's, else the client's default."""
        body_use = _code(self.body.get("use")) if self.scope in INVOICE else None
        if body_use is not None:
            return "use", body_use
        return self.rf("use"), self.receiver["use"]

    @property
    def method(self) -> str:
        return _code(self.body.get("payment_method")) or "PUE"  # gigstack's default

    @property
    def form(self) -> str | None:
        return _code(self.body.get("payment_form"))

    @property
    def glob(self) -> Mapping[str, Any] | None:
        value = self.body.get("global")
        return _map(value) if value else None

    def items(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for i, item in enumerate(_list(self.body.get("items"))):
            yield f"items[{i}]", _map(item)

    def taxes(self) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
        """(field path, tax, item) for every tax of every item."""
        for path, item in self.items():
            for j, tax in enumerate(_list(item.get("taxes"))):
                yield f"{path}.taxes[{j}]", _map(tax), item


def _tax_type(tax: Mapping[str, Any]) -> str | None:
    value = _code(tax.get("type"))
    return value.upper() if value else None


def _factor(tax: Mapping[str, Any]) -> str | None:
    value = _code(tax.get("factor"))
    return value.capitalize() if value else "Tasa"


def _withholding(tax: Mapping[str, Any]) -> bool:
    return tax.get("withholding") is True


def _rate6(tax: Mapping[str, Any]) -> float | None:
    rate = _num(tax.get("rate"))
    return None if rate is None else round(rate, 6)


# --------------------------------------------------------------------------------------------------
# The table


class Rule(NamedTuple):
    severity: Severity
    check: Callable[[_Doc], Iterable[_F]]
    description: str
    scopes: frozenset[str]


RULES: dict[str, Rule] = {}

INVOICE = frozenset({"I", "E"})
RECEIVER = frozenset({"I", "E", "client", "payment", "receipt", "stamp"})
AMOUNTS = frozenset({"I", "E", "payment", "receipt"})
SCOPE_NAMES = {
    "I": "income",
    "E": "egress",
    "client": "client",
    "payment": "payment",
    "receipt": "receipt",
    "stamp": "receipt stamp",
    "cancel": "cancel",
}


def rule(rule_id: str, severity: Severity, scopes: Iterable[str], description: str):
    """Register a check in RULES. Its docstring is what the error says (shown in docs/guard-rails.md)."""

    def deco(fn: Callable[[_Doc], Iterable[_F]]) -> Callable[[_Doc], Iterable[_F]]:
        RULES[rule_id] = Rule(severity, fn, description, frozenset(scopes))
        return fn

    return deco


# A. Receptor, persona, régimen, uso ------------------------------------------------------------------


@rule(
    "RFC-FORMAT",
    Severity.BLOCK,
    RECEIVER,
    "RFC matches SAT t_RFC: 3 letters (moral, 12) or 4 (física, 13) + yymmdd + 3 homoclave.",
)
def _rfc_format(doc: _Doc) -> Iterator[_F]:
    """The RFC is not a valid RFC (uppercased; 12 characters for a company, 13 for a person)."""
    if doc.rfc and not doc.rfc_ok:
        yield _F(
            doc.rf("tax_id"),
            doc.rfc,
            "12 (moral) or 13 (física) characters: AAA[A]YYMMDDXXX",
            f"El RFC {doc.rfc} no tiene el formato del SAT.",
            f"{doc.rfc} is not a valid RFC.",
        )


def _check_digit_ok(rfc: str) -> bool:
    chars = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ"
    total = 481 if len(rfc) == 12 else 0
    for i, c in enumerate(reversed(rfc), start=1):
        total += chars.index(c) * i
    return total % 11 == 0


@rule("RFC-CHECKDIGIT", Severity.WARN, RECEIVER, "Mod-11 check digit of the RFC (generic RFCs exempt).")
def _rfc_checkdigit(doc: _Doc) -> Iterator[_F]:
    """The RFC's check digit does not add up: probably a typo; compare with the Constancia de Situación Fiscal."""
    if doc.rfc_ok and not doc.generic and not _check_digit_ok(doc.rfc or ""):
        yield _F(
            doc.rf("tax_id"),
            doc.rfc,
            "",
            "El dígito verificador del RFC no cuadra; revise la Constancia de Situación Fiscal.",
            "The RFC's check digit does not match; check it against the Constancia de Situación Fiscal.",
        )


@rule(
    "PERSONA-FROM-RFC",
    Severity.WARN,
    RECEIVER,
    "Persona from the RFC (13 = física, 12 = moral); a company-like legal name on a 13-character RFC is flagged.",
)
def _persona_from_rfc(doc: _Doc) -> Iterator[_F]:
    """The legal name looks like a company (S.A. de C.V., S.C., A.C.…) but the RFC is a person's (13 characters)."""
    if doc.persona == "fisica" and not doc.generic and _CORPORATE.search(_plain(doc.receiver["legal_name"])):
        yield _F(
            doc.rf("tax_id"),
            doc.rfc,
            "12-character RFC for a persona moral",
            "La razón social parece de persona moral pero el RFC es de persona física (13 caracteres).",
            "The legal name looks like a company but the RFC is a person's (13 characters).",
        )


def _regimen_findings(doc: _Doc, who: str) -> Iterator[_F]:
    data = doc.receiver if who == "receiver" else doc.issuer
    field = doc.rf("tax_system") if who == "receiver" else "issuer.tax_system"
    regimen = data["tax_system"]
    if regimen is not None and regimen not in _rows("regimen_fiscal"):
        legacy = " (3.3 only)" if regimen in {"609", "628", "629", "630"} else ""
        yield _F(
            field,
            regimen,
            _join(_rows("regimen_fiscal")),
            f"{regimen} no es un régimen fiscal del catálogo c_RegimenFiscal de CFDI 4.0{legacy}.",
            f"{regimen} is not a CFDI 4.0 régimen fiscal{legacy}.",
        )


@rule(
    "REGIMEN-CATALOG",
    Severity.BLOCK,
    RECEIVER,
    "Régimen fiscal (receiver, and issuer when known) is one of the 19 CFDI 4.0 codes; 609/628/629/630 refused. CFDI40157/40140.",
)
def _regimen_catalog(doc: _Doc) -> Iterator[_F]:
    """The régimen fiscal is not in the CFDI 4.0 catalog."""
    yield from _regimen_findings(doc, "receiver")
    if doc.scope in INVOICE:
        yield from _regimen_findings(doc, "issuer")


@rule(
    "REGIMEN-PERSONA",
    Severity.BLOCK,
    RECEIVER,
    "The régimen applies to the RFC's persona (e.g. 601 moral only, 612 física only). CFDI40158/40141.",
)
def _regimen_persona(doc: _Doc) -> Iterator[_F]:
    """The régimen fiscal does not apply to this kind of taxpayer (persona física/moral, from the RFC length)."""
    row = _rows("regimen_fiscal").get(doc.receiver["tax_system"] or "")
    if row and doc.persona and not row[doc.persona]:
        yield _F(
            doc.rf("tax_system"),
            row["code"],
            f"for a persona {_PERSONA[doc.persona]}: {_join(_regimenes_for(doc.persona))}",
            f"El régimen {row['code']} no aplica a persona {_PERSONA[doc.persona]} (RFC {doc.rfc}).",
            f"Régimen {row['code']} does not apply to a persona {_PERSONA[doc.persona]} (RFC {doc.rfc}).",
        )
    issuer_rfc = doc.issuer["tax_id"]
    issuer_row = _rows("regimen_fiscal").get(doc.issuer["tax_system"] or "")
    if doc.scope in INVOICE and issuer_row and issuer_rfc and RFC_RE.match(issuer_rfc):
        persona = "fisica" if len(issuer_rfc) == 13 else "moral"
        if not issuer_row[persona]:
            yield _F(
                "issuer.tax_system",
                issuer_row["code"],
                f"for a persona {_PERSONA[persona]}: {_join(_regimenes_for(persona))}",
                f"El régimen del emisor {issuer_row['code']} no aplica a persona {_PERSONA[persona]}.",
                f"The issuer's régimen {issuer_row['code']} does not apply to a persona {_PERSONA[persona]}.",
            )


@rule(
    "USO-CATALOG",
    Severity.BLOCK,
    {"I", "E", "client", "payment", "stamp"},
    "Uso CFDI is one of the 24 CFDI 4.0 codes; P01 (3.3 only) refused. CFDI40160.",
)
def _uso_catalog(doc: _Doc) -> Iterator[_F]:
    """The uso CFDI is not in the CFDI 4.0 catalog (P01 "Por definir" no longer exists)."""
    field, use = doc.use
    if use is not None and use not in _rows("uso_cfdi"):
        p01 = use.upper() == "P01"
        yield _F(
            field,
            use,
            _join(_usos_for(doc.receiver["tax_system"], doc.persona) or _rows("uso_cfdi")),
            "P01 (Por definir) ya no existe en CFDI 4.0; use S01 si no hay efectos fiscales o el uso real."
            if p01
            else f"{use} no es un uso del catálogo c_UsoCFDI 4.0.",
            "P01 (Por definir) does not exist in CFDI 4.0; use S01 (no fiscal effects) or the real use."
            if p01
            else f"{use} is not a CFDI 4.0 uso.",
        )


@rule(
    "USO-REGIMEN",
    Severity.BLOCK,
    {"I", "E", "client", "payment", "stamp"},
    "The uso applies to the receiver's persona and régimen (c_UsoCFDI columns). CFDI40161.",
)
def _uso_regimen(doc: _Doc) -> Iterator[_F]:
    """The uso CFDI is not allowed for the receiver's régimen fiscal / persona."""
    field, use = doc.use
    row = _rows("uso_cfdi").get(use or "")
    regimen = doc.receiver["tax_system"]
    regimen = regimen if regimen in _rows("regimen_fiscal") else None
    if not row or (doc.persona is None and regimen is None):
        return
    persona_ok = doc.persona is None or row[f"persona_{doc.persona}"]
    regimen_ok = regimen is None or regimen in row["regimenes_receptor"]
    if not (persona_ok and regimen_ok):
        who = " ".join(
            x
            for x in (
                f"régimen {regimen}" if regimen else "",
                f"persona {_PERSONA[doc.persona]}" if doc.persona else "",
            )
            if x
        )
        yield _F(
            field,
            use,
            _join(_usos_for(regimen, doc.persona)),
            f"El uso {use} no aplica a un receptor con {who}.",
            f"Uso {use} is not allowed for a receiver with {who}.",
        )


@rule(
    "CP-FORMAT",
    Severity.BLOCK,
    RECEIVER,
    "Receiver zip (DomicilioFiscalReceptor) and issuer zip (LugarExpedicion) are 5 digits.",
)
def _cp_format(doc: _Doc) -> Iterator[_F]:
    """The postal code is not 5 digits."""
    zips = [(doc.rf("zip"), doc.receiver["zip"])]
    if doc.scope in INVOICE:
        zips.append(("issuer.address.zip", doc.issuer["zip"]))
    for field, zip_code in zips:
        if zip_code is not None and not ZIP_RE.match(zip_code):
            yield _F(
                field,
                zip_code,
                "5 digits, e.g. 06700",
                f"El código postal {zip_code} no tiene 5 dígitos.",
                f"Postal code {zip_code} is not 5 digits.",
            )


# B. Público en general and generic RFCs -----------------------------------------------------------------


@rule(
    "PUBLICO-NOMBRE",
    Severity.BLOCK,
    RECEIVER,
    "Legal name PUBLICO EN GENERAL only with RFC XAXX010101000 (CFDI40146); XAXX with another name is flagged.",
)
def _publico_nombre(doc: _Doc) -> Iterator[_F]:
    """ "PUBLICO EN GENERAL" is the name of RFC XAXX010101000 only."""
    name = _plain(doc.receiver["legal_name"])
    if name == PUBLICO_NOMBRE and doc.rfc and doc.rfc != PUBLICO_GENERAL:
        yield _F(
            doc.rf("tax_id"),
            doc.rfc,
            PUBLICO_GENERAL,
            "Con nombre PUBLICO EN GENERAL el RFC debe ser XAXX010101000.",
            "A receiver named PUBLICO EN GENERAL must have RFC XAXX010101000.",
        )
    elif doc.rfc == PUBLICO_GENERAL and name and name != PUBLICO_NOMBRE:
        yield _F(
            doc.rf("legal_name"),
            doc.receiver["legal_name"],
            PUBLICO_NOMBRE,
            "El RFC XAXX010101000 se usa con el nombre PUBLICO EN GENERAL.",
            "RFC XAXX010101000 goes with the name PUBLICO EN GENERAL.",
            warn=True,
        )


@rule(
    "GENERIC-REGIMEN-616",
    Severity.BLOCK,
    RECEIVER,
    "Generic RFCs (XAXX…, XEXX…) take régimen 616 Sin obligaciones fiscales. CFDI40159.",
)
def _generic_regimen(doc: _Doc) -> Iterator[_F]:
    """A generic RFC (público en general / extranjero) must use régimen 616."""
    regimen = doc.receiver["tax_system"]
    if doc.generic and regimen is not None and regimen != "616":
        yield _F(
            doc.rf("tax_system"),
            regimen,
            "616",
            f"Con RFC genérico {doc.generic} el régimen debe ser 616 (Sin obligaciones fiscales).",
            f"With the generic RFC {doc.generic} the régimen must be 616 (Sin obligaciones fiscales).",
        )


@rule(
    "GENERIC-CP",
    Severity.BLOCK,
    {"I", "E", "payment", "client"},
    "Generic RFCs take the issuer's expedition zip (LugarExpedicion) as receiver zip; warns when the issuer zip is unknown. CFDI40149.",
)
def _generic_cp(doc: _Doc) -> Iterator[_F]:
    """With a generic RFC the receiver's zip must equal the issuer's (LugarExpedicion)."""
    if not doc.generic:
        return
    receiver_zip, issuer_zip = doc.receiver["zip"], doc.issuer["zip"]
    if issuer_zip is None:
        if doc.scope != "client":
            yield _F(
                doc.rf("zip"),
                receiver_zip,
                "the issuer's zip (team address.zip)",
                "No se conoce el CP del emisor: confirme que el CP del receptor genérico es el de expedición.",
                "The issuer's zip is unknown: make sure the generic receiver's zip is your expedition zip.",
                warn=True,
            )
    elif receiver_zip is not None and receiver_zip != issuer_zip:
        yield _F(
            doc.rf("zip"),
            receiver_zip,
            issuer_zip,
            f"Con RFC genérico el CP del receptor debe ser el lugar de expedición {issuer_zip}.",
            f"With a generic RFC the receiver's zip must be the issuer's expedition zip {issuer_zip}.",
        )


@rule(
    "GENERIC-USO",
    Severity.BLOCK,
    {"I", "E", "payment"},
    "Generic RFCs (régimen 616): income ⇒ uso S01; egress ⇒ G02 or S01, the usos c_UsoCFDI allows for 616 "
    "(CP01 is for payment complements). CFDI40161.",
)
def _generic_uso(doc: _Doc) -> Iterator[_F]:
    """With a generic RFC the uso must be S01 (income), or G02 / S01 (egress: the usos of régimen 616)."""
    field, use = doc.use
    if not doc.generic or use is None:
        return
    wanted = GENERIC_EGRESS_USOS if doc.scope == "E" else ("S01",)
    if use not in wanted:
        kind = "egreso" if doc.scope == "E" else "ingreso"
        yield _F(
            field,
            use,
            _join(wanted),
            f"Un CFDI de {kind} a {doc.generic} lleva uso {' o '.join(wanted)}.",
            f"An {'egress' if doc.scope == 'E' else 'income'} CFDI to {doc.generic} takes uso "
            f"{' or '.join(wanted)}.",
        )


@rule(
    "XEXX-RESIDENCIA",
    Severity.BLOCK,
    RECEIVER,
    "XEXX010101000 needs a foreign country (ResidenciaFiscal ≠ MEX, CFDI40152); warns when no country is given. "
    "A foreign country or foreign_tax_id (NumRegIdTrib) only with XEXX010101000 (CFDI40151, CFDI40154); "
    "foreign_tax_id needs the country (CFDI40153) and follows its c_Pais pattern (CFDI40156).",
)
def _xexx_residencia(doc: _Doc) -> Iterator[_F]:
    """A foreign receiver (XEXX010101000) needs a country of residence other than Mexico."""
    yield from _foreign_residence_rfc(doc)
    yield from _foreign_tax_id(doc)
    if doc.rfc != EXTRANJERO:
        return
    country = doc.receiver["country"]
    if country is None:
        yield _F(
            doc.rf("country"),
            None,
            "c_Pais alpha-3 other than MEX, e.g. USA",
            "Para un receptor extranjero indique su país de residencia fiscal (address.country, c_Pais).",
            "For a foreign receiver give the country of tax residence in address.country (c_Pais, e.g. "
            "USA) and their tax id in foreign_tax_id.",
            warn=True,
        )
    elif _plain(country) in {"MEX", "MX", "MEXICO"}:
        yield _F(
            doc.rf("country"),
            country,
            "c_Pais alpha-3 other than MEX, e.g. USA",
            "El RFC XEXX010101000 es para residentes en el extranjero: la residencia fiscal no puede ser MEX.",
            "XEXX010101000 is for foreign residents: the tax residence cannot be MEX.",
        )


# B2. Foreign receivers (ResidenciaFiscal, NumRegIdTrib) ---------------------------------------------------


def _pais_row(country: str | None) -> dict[str, Any] | None:
    from ..catalogs import entry

    return entry("pais", country) if country else None


def _foreign_tax_id(doc: _Doc) -> Iterator[_F]:
    """XEXX-RESIDENCIA, NumRegIdTrib: a foreign tax id belongs to a foreign receiver (XEXX010101000,
    CFDI40154), with its country (CFDI40153), following that country's c_Pais pattern (CFDI40156)."""
    number = doc.receiver["foreign_tax_id"]
    if number is None:
        return
    field = doc.rf("foreign_tax_id")
    if doc.rfc and doc.rfc != EXTRANJERO:
        yield _F(
            field,
            number,
            f"no foreign_tax_id with RFC {doc.rfc} (or tax_id {EXTRANJERO} for a customer abroad)",
            "NumRegIdTrib solo se registra con el RFC genérico extranjero XEXX010101000.",
            f"A foreign tax id only goes with the foreign generic RFC {EXTRANJERO}.",
        )
        return
    country = doc.receiver["country"]
    if country is None:
        yield _F(
            doc.rf("country"),
            None,
            "c_Pais alpha-3, e.g. USA",
            "Con NumRegIdTrib se debe registrar ResidenciaFiscal (el país del receptor).",
            "A foreign tax id needs the receiver's country of residence (address.country).",
        )
        return
    row = _pais_row(country)
    pattern = (row or {}).get("patron_identidad_tributaria")
    if pattern and not re.fullmatch(pattern, number):
        yield _F(
            field,
            number,
            f"the c_Pais pattern for {country}: {pattern}",
            f"El NumRegIdTrib no cumple el patrón de {country} en c_Pais ({pattern}).",
            f"The foreign tax id does not match SAT's pattern for {country} ({pattern}); "
            "write it without separators.",
        )


def _foreign_residence_rfc(doc: _Doc) -> Iterator[_F]:
    """XEXX-RESIDENCIA, CFDI40151: a receiver abroad without an RFC is XEXX010101000; a Mexican RFC
    (or XAXX) carries no foreign residence."""
    country = doc.receiver["country"]
    if not doc.rfc or doc.rfc == EXTRANJERO or country is None or _plain(country) in {"MEX", "MX", "MEXICO"}:
        return
    yield _F(
        doc.rf("tax_id"),
        doc.rfc,
        f"{EXTRANJERO} (régimen 616, uso S01, zip = your expedition zip) for a customer abroad, or country MEX",
        "La residencia fiscal extranjera solo aplica con el RFC XEXX010101000.",
        f"A customer resident in {country} is invoiced to {EXTRANJERO} with régimen 616, uso S01 and "
        "your expedition zip; a Mexican RFC keeps country MEX.",
    )


# What the rule table relies on, checked elsewhere (docs/guard-rails.md says it after the table).
_AROUND_THE_RULES = [
    "",
    "## Checked around the rules",
    "",
    "- **The issuer** (RFC, régimen, expedition zip) the rules compare with is the team the call names, else",
    "  the API key's own team, learnt as gigstack's official CLI does (`resolveTeam`: the team in the key's JWT",
    "  payload, `GET /teams/{id}`; else `GET /teams` and its only team). It is cached per key and dropped when",
    "  `update_team` changes a team, so GLOBAL-BIMESTRAL-621, GENERIC-CP and IVA-FRONTERA run on",
    "  calls that name no team. With several teams and no team in the key it stays unknown (those rules warn).",
    "- **Arguments**: `currency` must be a c_Moneda code (CFDI40113; `DLS` is refused) and a client's",
    "  `address.country` a c_Pais alpha-3 code, before any rule runs. A tax id that is not an RFC is refused",
    "  with what a customer abroad takes: XEXX010101000, régimen 616, uso S01, the issuer's zip, `address.country`",
    "  (ResidenciaFiscal) and `foreign_tax_id` (NumRegIdTrib).",
    "- **Receipts and global invoices**: gigstack invoices its receipts itself (self-invoice, `stamp_receipt`,",
    "  its end-of-month global invoice), so a `create_income_invoice` with `global` whose lines name an open",
    "  receipt (`sku`) is refused (it would be invoiced twice), and the period's open receipts are a warning.",
    "  `stamp_receipt` with `general_public_national` is the way: the receipt ends invoiced, its line is the",
    "  ticket (01010101, ACT, 1, Venta, NoIdentificacion = receipt id), per the Guía de llenado del CFDI global.",
]


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


# D. Forma × método de pago --------------------------------------------------------------------------------


@rule(
    "FORMA-CATALOG",
    Severity.BLOCK,
    AMOUNTS,
    "payment_form ∈ c_FormaPago 4.0 (22 codes); legacy 07, 09, 10, 11, 16, 98 refused. CFDI40104.",
)
def _forma_catalog(doc: _Doc) -> Iterator[_F]:
    """The payment form is not in c_FormaPago."""
    form = doc.form
    if form is not None and form not in _rows("forma_pago"):
        yield _F(
            "payment_form",
            doc.body.get("payment_form"),
            _join(_rows("forma_pago")),
            f"La forma de pago {form} no está en c_FormaPago 4.0.",
            f"Payment form {form} is not in c_FormaPago 4.0.",
        )


@rule("METODO-CATALOG", Severity.BLOCK, INVOICE, "payment_method ∈ PUE, PPD. CFDI40124.")
def _metodo_catalog(doc: _Doc) -> Iterator[_F]:
    """The payment method is not PUE or PPD."""
    if doc.method not in _rows("metodo_pago"):
        yield _F(
            "payment_method",
            doc.body.get("payment_method"),
            "PUE (paid in full), PPD (deferred / installments)",
            f"El método de pago {doc.method} no existe: PUE o PPD.",
            f"Payment method {doc.method} does not exist: PUE or PPD.",
        )


@rule("PPD-FORMA-99", Severity.BLOCK, INVOICE, "PPD ⇒ payment_form 99 Por definir. CFDI40105.")
def _ppd_forma(doc: _Doc) -> Iterator[_F]:
    """With PPD (paid later) the payment form must be 99 "Por definir"."""
    if doc.method == "PPD" and doc.form is not None and doc.form != "99":
        egress = doc.scope == "E"
        yield _F(
            "payment_form",
            doc.form,
            "99" + (" with PPD; a credit note is PUE with this form" if egress else ""),
            "Con método PPD la forma de pago es 99 (Por definir); la forma real va en cada complemento de pago."
            + (" Una nota de crédito es PUE: use payment_method PUE con esta forma." if egress else ""),
            "With PPD the payment form is 99 (Por definir); the real form goes on each payment complement."
            + (" A credit note is PUE: use payment_method PUE with this form." if egress else ""),
        )


@rule(
    "PUE-FORMA-NOT-99",
    Severity.POLICY,
    {"I", "payment", "receipt"},
    "PUE income (and paid payments/receipts) ⇒ the real payment form, not 99 (Guía; RMF 2.7.1.39). "
    "Credit notes: EGRESO-FORMA.",
)
def _pue_forma(doc: _Doc) -> Iterator[_F]:
    """A PUE invoice (paid at issue) states how it was paid: 99 "Por definir" is only for PPD."""
    if doc.form != "99":
        return
    if doc.scope == "payment" and not (doc.register and doc.automation != "ppd_invoice_and_complement"):
        return
    if doc.scope == "I" and doc.method != "PUE":
        return
    yield _F(
        "payment_form",
        "99",
        "the real form: 01 efectivo, 03 transferencia, 04 tarjeta de crédito, 28 débito…",
        "Pagado en una exhibición (PUE): indique la forma real de pago, no 99; si aún no está pagado use PPD.",
        "Paid in full (PUE): give the real payment form, not 99; if it is not paid yet use PPD.",
    )


@rule(
    "PUE-MONTH",
    Severity.WARN,
    {"I"},
    "A PUE income invoice must be fully paid by the last day of the issue month (RMF 2.7.1.39), else PPD.",
)
def _pue_month(doc: _Doc) -> Iterator[_F]:
    """PUE means paid in full by the end of this month; otherwise use PPD with payment form 99."""
    if doc.method != "PUE" or doc.glob is not None:
        return
    last = doc.today.replace(day=monthrange(doc.today.year, doc.today.month)[1])
    yield _F(
        "payment_method",
        "PUE",
        "PUE if paid by " + last.isoformat() + ", else PPD",
        f"PUE solo si queda totalmente pagada a más tardar el {last.isoformat()}; si no, use PPD con forma 99.",
        f"PUE only if fully paid by {last.isoformat()}; otherwise use PPD with payment form 99.",
        warn=True,
    )


@rule(
    "PAGO-FORMA",
    Severity.POLICY,
    {"payment"},
    "A registered payment that feeds a payment complement (ppd_invoice_and_complement) states its real form, not 99.",
)
def _pago_forma(doc: _Doc) -> Iterator[_F]:
    """A received payment (FormaDePagoP) cannot be 99 "Por definir"."""
    if doc.register and doc.form == "99" and doc.automation == "ppd_invoice_and_complement":
        yield _F(
            "payment_form",
            "99",
            "the real form: 01 efectivo, 03 transferencia, 04 tarjeta de crédito, 28 débito…",
            "La forma de pago de un pago recibido no puede ser 99.",
            "A received payment's form cannot be 99.",
        )


# E. Per comprobante type --------------------------------------------------------------------------------


@rule(
    "EGRESO-METODO",
    Severity.POLICY,
    {"E"},
    "A credit note is PUE, whatever the credited invoice's method (Anexo 20 guía de llenado, Apéndice 5).",
)
def _egreso_metodo(doc: _Doc) -> Iterator[_F]:
    """A credit note (egreso) is PUE: it is settled when issued; PPD and its complements are for income."""
    if doc.method == "PPD":
        yield _F(
            "payment_method",
            "PPD",
            "PUE",
            "Una nota de crédito (egreso) se emite con método PUE, aunque la factura que acredita sea PPD; "
            f"la forma es la del crédito: {EGRESS_FORMS}.",
            "A credit note (egress) is PUE even when the invoice it credits is PPD; its form is how the "
            f"credit is given: {EGRESS_FORMS}.",
        )


@rule(
    "EGRESO-FORMA",
    Severity.POLICY,
    {"E"},
    "A credit note's payment_form is how the credit is given, never 99: 15 Condonación while the invoice is "
    "unpaid, 17 Compensación, or the refund's form (03, 01…); the original's form when it was a real one "
    "(Anexo 20 guía de llenado, Apéndice 5). Warns when missing.",
)
def _egreso_forma(doc: _Doc) -> Iterator[_F]:
    """A credit note's payment form is how the credit is given (15 Condonación if the invoice is unpaid, 17 Compensación, 03 for a transfer back…), never 99."""
    if doc.form == "99":
        yield _F(
            "payment_form",
            "99",
            EGRESS_FORMS,
            "Una nota de crédito no lleva forma 99 (ni aunque la factura acreditada sea PPD con 99): "
            f"indique cómo se otorga el crédito: {EGRESS_FORMS}.",
            "A credit note never takes form 99 (not even when the credited invoice is PPD with 99): give "
            f"how the credit is given: {EGRESS_FORMS}.",
        )
    elif doc.form is None:
        yield _F(
            "payment_form",
            None,
            EGRESS_FORMS,
            "Indique la forma de pago de la nota de crédito (cómo se otorga el crédito).",
            "Give the credit note's payment form (how the credit is given).",
            warn=True,
        )


@rule(
    "EGRESO-USO", Severity.WARN, {"E"}, "Credit notes use uso G02 Devoluciones, descuentos o bonificaciones."
)
def _egreso_uso(doc: _Doc) -> Iterator[_F]:
    """A credit note normally takes uso G02."""
    field, use = doc.use
    if use != "G02" and (not doc.generic or use in GENERIC_EGRESS_USOS):  # else GENERIC-USO blocks it
        yield _F(
            field,
            use,
            "G02",
            "Las notas de crédito usan G02 (Devoluciones, descuentos o bonificaciones).",
            "Credit notes use G02 (Devoluciones, descuentos o bonificaciones).",
            warn=True,
        )


@rule(
    "EGRESO-RELACION",
    Severity.WARN,
    {"E"},
    "A credit note relates to what it credits: relationship 01 (or 03 devolución, 07 anticipo).",
)
def _egreso_relacion(doc: _Doc) -> Iterator[_F]:
    """A credit note should name the invoice(s) it credits in related_documents (01, 03 or 07)."""
    rels = {_code(_map(r).get("relationship")) for r in _list(doc.body.get("related_documents"))}
    if not rels & {"01", "03", "07"}:
        yield _F(
            "related_documents",
            doc.body.get("related_documents"),
            '[{"relationship": "01", "documents": [<UUID>]}] (or 03, 07)',
            "La nota de crédito debe relacionar el CFDI que acredita (01, o 03/07).",
            "The credit note should relate the CFDI it credits (01, or 03/07).",
            warn=True,
        )


@rule(
    "RELACION-CATALOG",
    Severity.BLOCK,
    INVOICE,
    "related_documents[].relationship ∈ 01-07 (08/09 ended) and allowed for this invoice type; documents are CFDI UUIDs. CFDI40137.",
)
def _relacion_catalog(doc: _Doc) -> Iterator[_F]:
    """A related-document entry has an unknown relationship, one not allowed for this invoice type, or a bad UUID."""
    related = doc.body.get("related_documents")
    if related is None:
        return
    if not isinstance(related, list):
        yield _F("related_documents", related, "a list", "Debe ser una lista.", "Must be a list.")
        return
    rows = _rows("tipo_relacion")
    for i, entry in enumerate(related):
        entry = _map(entry)
        rel = _code(entry.get("relationship"))
        row = rows.get(rel or "")
        path = f"related_documents[{i}]"
        if row is None:
            yield _F(
                f"{path}.relationship",
                entry.get("relationship"),
                _join(f"{c} {r['description']}" for c, r in rows.items()),
                f"El tipo de relación {rel} no existe en CFDI 4.0.",
                f"Relationship {rel} does not exist in CFDI 4.0.",
            )
        elif row["comprobante_nuevo"] and doc.scope not in row["comprobante_nuevo"]:
            allowed = [
                c
                for c, r in rows.items()
                if not r["comprobante_nuevo"] or doc.scope in r["comprobante_nuevo"]
            ]
            yield _F(
                f"{path}.relationship",
                rel,
                _join(allowed),
                f"La relación {rel} no aplica a un CFDI tipo {doc.scope}.",
                f"Relationship {rel} does not apply to a type {doc.scope} CFDI.",
            )
        documents = entry.get("documents")
        if not isinstance(documents, list) or not documents:
            yield _F(
                f"{path}.documents",
                documents,
                "one or more CFDI UUIDs",
                "Indique al menos un UUID relacionado.",
                "Give at least one related UUID.",
            )
            continue
        for j, uuid in enumerate(documents):
            if not (isinstance(uuid, str) and UUID_RE.match(uuid)):
                yield _F(
                    f"{path}.documents[{j}]",
                    uuid,
                    "UUID 8-4-4-4-12 hex",
                    "El documento relacionado no es un UUID de CFDI.",
                    "The related document is not a CFDI UUID.",
                )


@rule(
    "EXPORTACION",
    Severity.BLOCK,
    INVOICE,
    "exports ∈ 01-04; 02 needs the Comercio Exterior complement (CFDI40122); 01/03 must not carry it (CFDI40222).",
)
def _exportacion(doc: _Doc) -> Iterator[_F]:
    """exports is not in c_Exportacion, or does not match the Comercio Exterior complement."""
    raw = doc.body.get("exports")
    exports = _code(raw)
    if exports is None:
        return
    if exports not in _rows("exportacion"):
        yield _F(
            "exports",
            raw,
            _join(f"{c} {r['description']}" for c, r in _rows("exportacion").items()),
            f"La clave de exportación {exports} no existe.",
            f"Export code {exports} does not exist.",
        )
        return
    complements = _list(doc.body.get("complements"))
    cce = any("comercioexterior" in str(_map(c).get("data", "")).lower() for c in complements)
    if exports == "02" and not cce:
        yield _F(
            "exports",
            exports,
            "01 (domestic), or 02 with a Comercio Exterior complement",
            "Exportación 02 requiere el complemento de Comercio Exterior.",
            "exports 02 requires the Comercio Exterior complement.",
        )
    elif exports in ("01", "03") and cce:
        yield _F(
            "exports",
            exports,
            "02 or 04 with Comercio Exterior",
            f"Con exportación {exports} no va el complemento de Comercio Exterior.",
            f"With exports {exports} there is no Comercio Exterior complement.",
        )


@rule(
    "MONEDA-TC",
    Severity.BLOCK,
    AMOUNTS,
    "currency is an ISO 4217 code; MXN ⇒ no exchange_rate (or 1); XXX ⇒ none; any other ⇒ exchange_rate > 0. CFDI40114-40116.",
)
def _moneda_tc(doc: _Doc) -> Iterator[_F]:
    """The currency/exchange rate pair is inconsistent (foreign currency needs exchange_rate > 0; MXN takes none)."""
    raw_currency = doc.body.get("currency")
    currency = (_code(raw_currency) or "MXN").upper()
    raw_rate = doc.body.get("exchange_rate")
    rate = _num(raw_rate)
    if not CURRENCY_RE.match(currency):
        yield _F(
            "currency",
            raw_currency,
            "ISO 4217 code: MXN, USD, EUR…",
            f"{raw_currency} no es una clave de moneda ISO 4217.",
            f"{raw_currency} is not an ISO 4217 currency code.",
        )
    elif currency == "MXN" and raw_rate is not None and rate != 1:
        yield _F(
            "exchange_rate",
            raw_rate,
            "(none) or 1",
            "En MXN no se indica tipo de cambio (o es 1).",
            "With MXN there is no exchange rate (or it is 1).",
        )
    elif currency == "XXX" and raw_rate is not None:
        yield _F(
            "exchange_rate",
            raw_rate,
            "(none)",
            "Con moneda XXX no va tipo de cambio.",
            "With currency XXX there is no exchange rate.",
        )
    elif currency not in ("MXN", "XXX") and (rate is None or rate <= 0):
        yield _F(
            "exchange_rate",
            raw_rate,
            f"MXN per 1 {currency}, > 0",
            f"Con moneda {currency} el tipo de cambio es obligatorio y mayor que 0.",
            f"With currency {currency} exchange_rate is required and must be > 0.",
        )


@rule(
    "NO-NEGATIVES",
    Severity.BLOCK,
    AMOUNTS,
    "quantity > 0, unit_price > 0 (CFDI40166), 0 ≤ discount ≤ quantity × unit_price.",
)
def _no_negatives(doc: _Doc) -> Iterator[_F]:
    """Amounts must be positive: quantity and unit_price > 0, discount between 0 and the item amount."""
    for path, item in doc.items():
        quantity = 1.0 if item.get("quantity") is None else _num(item.get("quantity"))
        if quantity is None or quantity <= 0:
            yield _F(
                f"{path}.quantity",
                item.get("quantity"),
                "> 0",
                "La cantidad debe ser mayor que 0.",
                "quantity must be greater than 0.",
            )
        has_price = item.get("unit_price") is not None  # absent: the referenced service's price
        price = _num(item.get("unit_price")) if has_price else None
        if has_price and (price is None or price <= 0):
            yield _F(
                f"{path}.unit_price",
                item.get("unit_price"),
                "> 0",
                "El valor unitario debe ser mayor que 0 (las notas de crédito también van en positivo).",
                "unit_price must be greater than 0 (credit notes are positive too).",
            )
        if item.get("discount") is not None:
            discount = _num(item.get("discount"))
            cap = quantity * price if quantity and price and quantity > 0 and price > 0 else None
            if discount is None or discount < 0 or (cap is not None and discount > cap + 1e-9):
                yield _F(
                    f"{path}.discount",
                    item.get("discount"),
                    f"0-{round(cap, 2)}" if cap is not None else ">= 0",
                    "El descuento no puede ser negativo ni mayor que el importe del concepto.",
                    "discount cannot be negative or larger than the item amount.",
                )


@rule(
    "TAX-BASE-POSITIVE",
    Severity.BLOCK,
    AMOUNTS,
    "An item with taxes keeps a tax base > 0 after its discount: amount − discount > 0 (CFDI40174 traslados, "
    "CFDI40181 retenciones).",
)
def _tax_base_positive(doc: _Doc) -> Iterator[_F]:
    """An item with taxes needs amount minus discount above 0 (its tax base): a 100% discount leaves none."""
    for path, item in doc.items():
        quantity = 1.0 if item.get("quantity") is None else _num(item.get("quantity"))
        price, discount = _num(item.get("unit_price")), _num(item.get("discount"))
        if not _list(item.get("taxes")) or None in (quantity, price, discount):
            continue  # no taxes, a service's price (unknown here), or no discount
        amount = round(quantity * price, 2)  # type: ignore[operator]
        if 0 < amount <= discount + 1e-9:  # type: ignore[operator]
            yield _F(
                f"{path}.discount",
                item.get("discount"),
                f"less than the item amount {amount:.2f}, or an item without taxes",
                "Con impuestos, la base (importe menos descuento) debe ser mayor que 0 (CFDI40174).",
                "With taxes, the base (amount minus discount) must be greater than 0 (CFDI40174).",
            )


# F. Taxes -------------------------------------------------------------------------------------------------


@rule(
    "OBJETOIMP",
    Severity.BLOCK,
    AMOUNTS,
    "taxability (ObjetoImp): 02 needs taxes (CFDI40171); 01/03/04/05 carry none (CFDI40172); 06/08 no IVA/IEPS; 07 IEPS traslado, no IVA.",
)
def _objetoimp(doc: _Doc) -> Iterator[_F]:
    """The item's taxability (ObjetoImp) does not match its taxes."""
    rows = _rows("objeto_imp")
    for path, item in doc.items():
        raw = item.get("taxability")
        code = _code(raw) or "02"
        row = rows.get(code)
        taxes = [_map(t) for t in _list(item.get("taxes"))]
        if row is None:
            yield _F(
                f"{path}.taxability",
                raw,
                _join(f"{c} {r['description']}" for c, r in rows.items()),
                f"El objeto de impuesto {code} no existe.",
                f"taxability {code} does not exist.",
            )
            continue
        rule_ = row["impuestos_concepto"]
        types = {(_tax_type(t), _withholding(t)) for t in taxes}
        # a service (by id, or found by SKU through search): its own taxes apply
        from_service = ("id" in item or "search" in item) and item.get("taxes") is None
        if rule_ == "requerido" and not taxes and not from_service:
            yield _F(
                f"{path}.taxes",
                item.get("taxes"),
                "at least one tax, e.g. IVA 0.16; or taxability 01 (no objeto)",
                "Con objeto de impuesto 02 el concepto debe llevar impuestos.",
                "With taxability 02 the item must carry taxes.",
            )
        elif rule_ == "prohibido" and taxes:
            yield _F(
                f"{path}.taxes",
                item.get("taxes"),
                "(none) or taxability 02",
                f"Con objeto de impuesto {code} el concepto no lleva impuestos.",
                f"With taxability {code} the item carries no taxes.",
            )
        elif rule_ == "permitido_sin_iva_ni_ieps" and any(t in ("IVA", "IEPS") for t, _ in types):
            yield _F(
                f"{path}.taxes",
                item.get("taxes"),
                "no IVA or IEPS",
                f"Con objeto de impuesto {code} no va IVA ni IEPS.",
                f"With taxability {code} there is no IVA or IEPS.",
            )
        elif rule_ == "requerido_ieps_traslado_sin_iva" and (
            ("IEPS", False) not in types or any(t == "IVA" for t, _ in types)
        ):
            yield _F(
                f"{path}.taxes",
                item.get("taxes"),
                "an IEPS traslado and no IVA",
                "Con objeto de impuesto 07 va IEPS trasladado y no IVA.",
                "With taxability 07 there is an IEPS traslado and no IVA.",
            )


@rule(
    "FACTOR-EXENTO",
    Severity.BLOCK,
    AMOUNTS,
    "factor Exento carries no rate (CFDI40177); Tasa/Cuota need a rate (CFDI40178); withholdings are never Exento (CFDI40184).",
)
def _factor_exento(doc: _Doc) -> Iterator[_F]:
    """Exento carries no rate and is never a withholding; Tasa and Cuota need a rate."""
    for path, tax, _item in doc.taxes():
        factor = _factor(tax)
        if factor == "Exento":
            if tax.get("rate") is not None:
                yield _F(
                    f"{path}.rate",
                    tax.get("rate"),
                    "(none) with factor Exento",
                    "Un impuesto Exento no lleva tasa.",
                    "An Exento tax carries no rate.",
                )
            if _withholding(tax):
                yield _F(
                    f"{path}.factor",
                    tax.get("factor"),
                    "Tasa or Cuota for withholdings",
                    "Una retención nunca es Exento.",
                    "A withholding is never Exento.",
                )
        elif factor in ("Tasa", "Cuota") and tax.get("rate") is None:
            yield _F(
                f"{path}.rate",
                None,
                "a rate, e.g. 0.16",
                f"Con factor {factor} la tasa es obligatoria.",
                f"With factor {factor} a rate is required.",
            )


def _tasa_allowed(code: str, factor: str, withholding: bool, today: date) -> list[dict[str, Any]]:
    direction = "retencion" if withholding else "traslado"
    return [
        r
        for r in _tasa_rows()
        if r["impuesto_code"] == code
        and r["factor"] == factor
        and r[direction]
        and (r["vigencia_desde"] is None or r["vigencia_desde"] <= today.isoformat())
        and (r["vigencia_hasta"] is None or r["vigencia_hasta"] >= today.isoformat())
    ]


def _tasa_text(rows: list[dict[str, Any]]) -> str:
    parts = [
        r["valor_maximo"] if r["tipo"] == "Fijo" else f"{r['valor_minimo']}-{r['valor_maximo']}" for r in rows
    ]
    return _join(dict.fromkeys(parts))


@rule(
    "TASA-CATALOG",
    Severity.BLOCK,
    AMOUNTS,
    "type ∈ IVA/ISR/IEPS, factor ∈ Tasa/Cuota/Exento, rate ∈ c_TasaOCuota: IVA traslado 0.16/0.08/0; IVA retención 0-0.16; ISR retención only, 0-0.35; IEPS fixed list or Cuota range. CFDI40179/40185/40219.",
)
def _tasa_catalog(doc: _Doc) -> Iterator[_F]:
    """The tax type, factor or rate is not in c_TasaOCuota (e.g. IVA 0.15, ISR as traslado)."""
    for path, tax, _item in doc.taxes():
        kind = _tax_type(tax)
        if kind not in TAX_CODES:
            yield _F(
                f"{path}.type",
                tax.get("type"),
                "IVA, ISR, IEPS",
                f"El impuesto {tax.get('type')} no existe.",
                f"Tax type {tax.get('type')} does not exist.",
            )
            continue
        factor = _factor(tax)
        if factor not in FACTORS:
            yield _F(
                f"{path}.factor",
                tax.get("factor"),
                _join(FACTORS),
                f"El tipo de factor {tax.get('factor')} no existe.",
                f"Factor {tax.get('factor')} does not exist.",
            )
            continue
        withholding = _withholding(tax)
        direction_es, direction_en = (
            ("retención", "withholding") if withholding else ("traslado", "transferred")
        )
        if factor == "Exento":
            if kind == "ISR":
                yield _F(
                    f"{path}.type",
                    kind,
                    "IVA or IEPS for Exento",
                    "ISR solo se retiene; no existe ISR exento trasladado.",
                    "ISR is only withheld; there is no exempt transferred ISR.",
                )
            continue
        rows = _tasa_allowed(TAX_CODES[kind], factor, withholding, doc.today)
        if not rows:
            allowed = [
                f"{'withholding' if w else 'transferred'} {f}"
                for f in ("Tasa", "Cuota")
                for w in (False, True)
                if _tasa_allowed(TAX_CODES[kind], f, w, doc.today)
            ]
            yield _F(
                f"{path}.withholding" if kind == "ISR" else f"{path}.factor",
                tax.get("withholding") if kind == "ISR" else factor,
                f"{kind}: {_join(allowed)}",
                f"{kind} no admite {direction_es} con factor {factor}.",
                f"{kind} cannot be {direction_en} with factor {factor}.",
            )
            continue
        rate = _rate6(tax)
        if tax.get("rate") is None:
            continue  # FACTOR-EXENTO reports it
        fits = rate is not None and any(
            (r["tipo"] == "Fijo" and rate == float(r["valor_maximo"]))
            or (r["tipo"] == "Rango" and float(r["valor_minimo"]) <= rate <= float(r["valor_maximo"]))
            for r in rows
        )
        if not fits:
            yield _F(
                f"{path}.rate",
                tax.get("rate"),
                _tasa_text(rows),
                f"La tasa {tax.get('rate')} no está en c_TasaOCuota para {kind} {direction_es} ({factor}).",
                f"Rate {tax.get('rate')} is not in c_TasaOCuota for {direction_en} {kind} ({factor}).",
            )


@rule(
    "IVA-FRONTERA",
    Severity.WARN,
    AMOUNTS,
    "IVA 0.08 (estímulo fronterizo) only when the issuer zip is in the border region (cp_estimulo_frontera).",
)
def _iva_frontera(doc: _Doc) -> Iterator[_F]:
    """IVA 8% is only for issuers in the border region (estímulo fiscal fronterizo)."""
    zip_code = doc.issuer["zip"]
    if zip_code is not None and zip_code in _frontera():
        return
    for path, tax, _item in doc.taxes():
        if (
            _tax_type(tax) == "IVA"
            and not _withholding(tax)
            and _factor(tax) == "Tasa"
            and _rate6(tax) == 0.08
        ):
            where = (
                "no se conoce el CP del emisor"
                if zip_code is None
                else f"el CP {zip_code} no es zona fronteriza"
            )
            where_en = (
                "the issuer's zip is unknown"
                if zip_code is None
                else f"zip {zip_code} is not in the border region"
            )
            yield _F(
                f"{path}.rate",
                0.08,
                "0.16 (0.08 only in the border region)",
                f"IVA 8% es solo para la región fronteriza y {where}.",
                f"IVA 8% is only for the border region and {where_en}.",
                warn=True,
            )


@rule(
    "RET-COMMON",
    Severity.WARN,
    {"I", "E", "payment"},
    "Withholding rates outside the usual ones (ISR 0.10, 0.0125; IVA 0.106667, 0.04, 0.06) are flagged.",
)
def _ret_common(doc: _Doc) -> Iterator[_F]:
    """An unusual withholding rate: check it (e.g. IVA 2/3 is 0.106667, not 0.1067)."""
    for path, tax, _item in doc.taxes():
        kind, rate = _tax_type(tax), _rate6(tax)
        common = COMMON_WITHHOLDING.get(kind or "")
        if not _withholding(tax) or common is None or rate is None or rate in common:
            continue
        usual = _join(f"{r:g} ({why})" for r, why in common.items())
        yield _F(
            f"{path}.rate",
            tax.get("rate"),
            usual,
            f"Tasa de retención de {kind} poco común; las usuales son {usual}.",
            f"Unusual {kind} withholding rate; the usual ones are {usual}.",
            warn=True,
        )


@rule(
    "RESICO-ISR",
    Severity.WARN,
    {"I", "payment"},
    "RESICO persona física (626) billing a persona moral: ISR withholding 0.0125 may be required (CFDI140225), depending on the SAT padrón mark.",
)
def _resico_isr(doc: _Doc) -> Iterator[_F]:
    """A RESICO person invoicing a company usually has ISR withheld at 1.25% (0.0125)."""
    issuer_rfc = doc.issuer["tax_id"]
    if not (issuer_rfc and len(issuer_rfc) == 13 and doc.issuer["tax_system"] == "626"):
        return
    if doc.persona != "moral":
        return
    isr = [(p, t) for p, t, _i in doc.taxes() if _tax_type(t) == "ISR" and _withholding(t)]
    if not isr:
        yield _F(
            "items[].taxes",
            None,
            'ISR withholding {"type": "ISR", "rate": 0.0125, "withholding": true}',
            "Emisor RESICO a persona moral: según su marca en el padrón, el SAT exige retención de ISR 1.25%.",
            "RESICO issuer to a company: depending on the padrón mark, SAT requires 1.25% ISR withholding.",
            warn=True,
        )
    for path, tax in isr:
        if _rate6(tax) != 0.0125:
            yield _F(
                f"{path}.rate",
                tax.get("rate"),
                "0.0125",
                "En RESICO la retención de ISR es 1.25%.",
                "RESICO ISR withholding is 1.25%.",
                warn=True,
            )


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


# Rules of cfdi-rules.md with no check of their own, and why.
NOT_CHECKED: dict[str, str] = {
    "RFC-GENERIC": "Definition (XAXX/XEXX are 13-character física RFCs); used by the GENERIC-* and XEXX rules.",
    "RECEPTOR-PADRON": "Needs the SAT padrón (RFC, name, zip, régimen must match the CSF): use validate_client_fiscal_info before issuing.",
    "FORMA-MAYOR": "Needs the breakdown of how the sale was paid; the user must pick the form that paid the largest amount.",
    "TP-NO-FORMA": "Only for T/N/P documents; gigstack builds payment complements itself and no tool issues T or N.",
    "TP-NO-METODO": "Only for T/N/P documents (see TP-NO-FORMA).",
    "PAGO-P": "gigstack builds the payment complement (type P) itself.",
    "PAGO-FOR-PPD": "Needs the invoice being paid; gigstack only issues complements for PPD invoices.",
    "NOMINA-N": "No tool issues nómina.",
    "IMPUESTOS-NONEMPTY": "Covered by OBJETOIMP (02 needs at least one tax) and TAX-BASE-POSITIVE (base > 0).",
    "IVA-EXENTO": "Definition; enforced by FACTOR-EXENTO and OBJETOIMP.",
    "TP-NO-IMPUESTOS": "Only for T/P documents (see TP-NO-FORMA).",
    "CANCEL-01-FALLBACK": "Advice: if a motive 01 cancellation fails, SAT allows 02 (also for the substitute).",
    "CANCEL-CONFIRM": "Done by the registry: cancel tools are destructive and need the user's confirmation.",
}


# --------------------------------------------------------------------------------------------------
# Running the table


def _run(doc: _Doc, allow_policy: bool) -> list[GuardWarning]:
    violations: list[Violation] = []
    warnings: list[GuardWarning] = []
    for rule_id, r in RULES.items():
        if doc.scope not in r.scopes:
            continue
        for f in r.check(doc):
            args = (rule_id, f.field, f.value, f.allowed, f.es, f.en)
            blocks = r.severity is Severity.BLOCK or (r.severity is Severity.POLICY and not allow_policy)
            if blocks and not f.warn:
                violations.append(Violation(*args, severity=r.severity))
            else:
                warnings.append(GuardWarning(*args, severity=r.severity))
    if violations:
        raise RuleViolation(violations)
    return warnings


def check_invoice(
    body: Mapping[str, Any],
    invoice_type: str = "I",
    receiver: Mapping[str, Any] | None = None,
    issuer: Mapping[str, Any] | None = None,
    today: date | None = None,
    *,
    allow_policy: bool = False,
) -> list[GuardWarning]:
    """Check an income ("I") or egress ("E") invoice body. `receiver` (the client's fiscal data)
    completes or overrides an inline `client`; `issuer` is the team."""
    if invoice_type not in INVOICE:
        raise ValueError(f"invoice_type must be 'I' or 'E', not {invoice_type!r}")
    body = _map(body)
    doc = _Doc(
        scope=invoice_type,
        body=body,
        receiver=_merge(body.get("client"), receiver),
        issuer=_merge(issuer),
        today=today or clock.today_mx(),
    )
    return _run(doc, allow_policy)


def check_client(
    body: Mapping[str, Any],
    current: Mapping[str, Any] | None = None,
    issuer: Mapping[str, Any] | None = None,
) -> list[GuardWarning]:
    """Check a client create/update body (for an update, pass the stored client as `current`)."""
    doc = _Doc(
        scope="client",
        body=_map(body),
        receiver=_merge(current, body),
        issuer=_merge(issuer),
        today=clock.today_mx(),
        prefix="",
    )
    return _run(doc, allow_policy=False)


def check_payment(
    body: Mapping[str, Any],
    receiver: Mapping[str, Any] | None = None,
    issuer: Mapping[str, Any] | None = None,
    today: date | None = None,
    *,
    register: bool | None = None,
    allow_policy: bool = False,
) -> list[GuardWarning]:
    """Check a payment register (already paid: has payment_form) or request (payment link) body. The
    receiver's fiscal data is only checked when the payment's automation issues an invoice."""
    body = _map(body)
    register = "payment_form" in body if register is None else register
    automation = _code(body.get("automation_type"))
    if automation is None:  # gigstack's defaults
        automation = "pue_invoice" if register else "none"
    invoicing = automation in INVOICING_AUTOMATIONS
    doc = _Doc(
        scope="payment",
        body=body,
        receiver=_merge(body.get("client"), receiver) if invoicing else _merge(None),
        issuer=_merge(issuer),
        today=today or clock.today_mx(),
        register=register,
        automation=automation,
    )
    return _run(doc, allow_policy)


def check_receipt(
    body: Mapping[str, Any],
    issuer: Mapping[str, Any] | None = None,
    today: date | None = None,
    *,
    allow_policy: bool = False,
) -> list[GuardWarning]:
    """Check a receipt (recibo de venta) body: it ends up in a self-invoice or the global invoice."""
    body = _map(body)
    doc = _Doc(
        scope="receipt",
        body=body,
        receiver=_merge(body.get("client")),
        issuer=_merge(issuer),
        today=today or clock.today_mx(),
    )
    return _run(doc, allow_policy)


def check_receipt_stamp(
    body: Mapping[str, Any],
    receiver: Mapping[str, Any] | None = None,
    issuer: Mapping[str, Any] | None = None,
) -> list[GuardWarning]:
    """Check a receipt stamp body: with stamp_to "client", the receipt's client (`receiver`) as
    overridden by fiscal_information."""
    body = _map(body)
    if body.get("stamp_to") not in (None, "client"):
        return []  # gigstack fills in público en general / extranjero itself
    override = body.get("fiscal_information")
    doc = _Doc(
        scope="stamp",
        body=body,
        receiver=_merge(receiver, override),
        issuer=_merge(issuer),
        today=clock.today_mx(),
        prefix="fiscal_information." if override else "client.",
    )
    return _run(doc, allow_policy=False)


def check_cancel(
    motive: Any,
    substitution_uuid: Any = None,
    invoice: Mapping[str, Any] | None = None,
    today: date | None = None,
) -> list[GuardWarning]:
    """Check a cancellation: `invoice` is the invoice being cancelled (as gigstack returns it), if known."""
    doc = _Doc(
        scope="cancel",
        body={"motive": motive, "substitution_uuid": substitution_uuid},
        receiver=_merge(_map(invoice).get("client")),
        issuer=_merge(None),
        today=today or clock.today_mx(),
        invoice=_map(invoice) if invoice is not None else None,
    )
    return _run(doc, allow_policy=False)


# --------------------------------------------------------------------------------------------------
# The README table


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rules_markdown() -> str:
    """docs/guard-rails.md, generated from RULES and NOT_CHECKED."""
    lines = [
        "# SAT guard rails (CFDI 4.0)",
        "",
        "Generated from `gigstack_mcp.guards.cfdi.RULES` by `python -m gigstack_mcp.guards.cfdi > docs/guard-rails.md`;",
        "do not edit by hand. Every rule is checked locally, before any request, on the JSON body gigstack takes.",
        "",
        "Severity: **BLOCK** = SAT/PAC would reject it, nothing is sent · **POLICY** = the SAT guide says so but PACs",
        "stamp anyway: blocked unless the caller allows it (`allow_policy=True`) · **WARN** = cannot be decided",
        "offline, or practice rather than law: the request goes ahead and the warning is shown.",
        "A BLOCK or POLICY rule only warns when the data it needs is unknown (e.g. the issuer's zip).",
        "",
        "| Rule | Severity | Applies to | What is checked | What the error says |",
        "|---|---|---|---|---|",
    ]
    for rule_id, r in RULES.items():
        scopes = ", ".join(name for key, name in SCOPE_NAMES.items() if key in r.scopes)
        says = (r.check.__doc__ or "").strip()
        lines.append(f"| {rule_id} | {r.severity} | {scopes} | {_cell(r.description)} | {_cell(says)} |")
    lines += _AROUND_THE_RULES
    lines += [
        "",
        "## Rules of the research note without a check of their own",
        "",
        "| Rule | Why |",
        "|---|---|",
        *(f"| {rule_id} | {_cell(why)} |" for rule_id, why in NOT_CHECKED.items()),
    ]
    return "\n".join(lines) + "\n"


def readme_table() -> str:
    """The short rule table the README carries (the full one is docs/guard-rails.md)."""
    lines = ["| Rule | Severity | What is checked |", "|---|---|---|"]
    lines += [f"| {rule_id} | {r.severity} | {_cell(r.description)} |" for rule_id, r in RULES.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(rules_markdown(), end="")
