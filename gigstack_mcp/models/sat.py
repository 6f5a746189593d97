"""The SAT scalar field types the tool parameters share, built from the one set of patterns in
gigstack_mcp/sat.py (which the guard rails, the audit log and the sandbox use too). An RFC is advertised
as a word, not as its long pattern: the pattern still checks every value server-side, and the guard
rails explain a bad RFC by rule ID."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .. import sat
from ._base import text

# The strict RFC (a real date, a valid last character), and its shape only (see gigstack_mcp/sat.py).
Rfc = Annotated[str, Field(pattern=sat.RFC_PATTERN), text("RFC")]
RfcShape = Annotated[str, Field(pattern=sat.RFC_SHAPE_PATTERN), text("RFC")]
Zip = Annotated[str, Field(pattern=sat.ZIP_PATTERN)]  # código postal
# c_Moneda's shape; Moneda (models/invoices.py) adds the catalog check.
CurrencyCode = Annotated[str, Field(pattern=sat.CURRENCY_PATTERN)]
IdempotencyKey = Annotated[str, Field(pattern=sat.IDEMPOTENCY_KEY_PATTERN)]  # a bank transaction id fits it
