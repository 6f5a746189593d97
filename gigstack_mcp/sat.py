"""SAT formats and rules that the product (models, guard rails in guards/cfdi/, the audit log) and the
embedded sandbox all apply, written once so they can never disagree. Pure: no I/O, no imports from the
rest of the package (the sandbox imports it without loading the product's models). The pydantic field
types built from these patterns are in models/sat.py; the Mexico time zone is clock.MEXICO."""

from __future__ import annotations

import re
from datetime import date

GLOBAL_YEAR_FLOOR = 2019  # cfdv40.xsd: InformacionGlobal/@Año is a short >= 2019
GLOBAL_YEARS_BACK = 5  # Matriz de errores CFDI40136: the current year or up to 5 previous ejercicios

# RFC (cfdv40.xsd t_RFC): 3 letters (persona moral, 12 characters) or 4 (física, 13), the yymmdd of
# incorporation or birth, and a 3-character homoclave.
_RFC_NAME = "[A-Z&Ñ]{3,4}"
# The strict RFC: a real month and day, a homoclave ending in a digit or A (its check digit).
RFC_PATTERN = rf"^{_RFC_NAME}[0-9]{{2}}(0[1-9]|1[012])(0[1-9]|[12][0-9]|3[01])[A-Z0-9]{{2}}[0-9A]$"
# The RFC's shape only (any 6 digits, any homoclave): where a wrong date or check digit is left to the
# guard rails (RFC-FORMAT, RFC-CHECKDIGIT), which explain it by rule ID.
RFC_SHAPE_PATTERN = rf"^{_RFC_NAME}[0-9]{{6}}[A-Z0-9]{{3}}$"
# An RFC-shaped word inside free text, in any case and with any digits: what the audit log redacts.
RFC_IN_TEXT = re.compile(rf"\b{_RFC_NAME}\d{{6}}[A-Z0-9]{{3}}\b", re.IGNORECASE)
PUBLICO_GENERAL = "XAXX010101000"  # the generic RFCs: público en general
EXTRANJERO = "XEXX010101000"  # and a receiver abroad
ZIP_PATTERN = r"^[0-9]{5}$"  # código postal (c_CodigoPostal): 5 digits
CURRENCY_PATTERN = r"^[A-Z]{3}$"  # c_Moneda's shape (ISO 4217); the catalog decides which codes exist
# Not SAT's but gigstack's, shared the same way: an Idempotency-Key header (or body idempotency_key).
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{8,128}$"

RFC_RE = re.compile(RFC_PATTERN)
ZIP_RE = re.compile(ZIP_PATTERN)
CURRENCY_RE = re.compile(CURRENCY_PATTERN)
IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)


def global_year_range(today: date) -> tuple[int, int]:
    """The years a global invoice (InformacionGlobal/@Año) may state when issued on `today`."""
    return max(GLOBAL_YEAR_FLOOR, today.year - GLOBAL_YEARS_BACK), today.year
