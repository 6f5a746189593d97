"""The rule table's machinery, shared by every SAT section: severities, findings and
`RuleViolation`, the lenient readers that take API-shaped dicts as they come, the request under
check (`_Doc`), and `RULES` with the `@rule` decorator the section modules register their checks with.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple, Protocol

from ... import clock
from ...catalogs import load
from ...sat import EXTRANJERO, PUBLICO_GENERAL, RFC_RE

UUID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$", re.IGNORECASE)
GENERIC_RFCS = (PUBLICO_GENERAL, EXTRANJERO)
PUBLICO_NOMBRE = "PUBLICO EN GENERAL"
MEXICO_TZ = clock.MEXICO
# c_UsoCFDI for régimen 616 is G02, S01, CP01; CP01 is only for payment complements (Anexo 20, UsoCFDI).
GENERIC_EGRESS_USOS = ("G02", "S01")


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


def _join(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


# --------------------------------------------------------------------------------------------------
# Normalising the input


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class Params(Protocol):
    """A tool's validated params model (models.ToolParams; named by shape so the rules stay below the
    models): what it sends is its body."""

    def body(self) -> Mapping[str, Any]: ...


def _request(value: Mapping[str, Any] | Params | Any) -> Mapping[str, Any]:
    """The body under check: a tool's params model gives its body (built once per model,
    ToolParams.body); a Mapping is read as it comes (the rule tables and property tests pass dicts)."""
    if not isinstance(value, Mapping) and callable(body := getattr(value, "body", None)):
        value = body()
    return _map(value)


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


def _withholding(tax: Mapping[str, Any]) -> bool:
    return tax.get("withholding") is True


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
