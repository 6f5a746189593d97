"""SAT CFDI 4.0 guard rails, checked locally on the exact JSON body gigstack takes, before any request.

Entry points (pure functions over API-shaped dicts; they never touch the network). `body` is a tool's
validated params model (the tools pass theirs: its body is built once and read from it) or the body as a
Mapping:

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

One module per SAT section registers its rules (receptor, informacion_global, pago, comprobante,
impuestos, cancelacion); `_core` holds the machinery, `checks` the entry points, `docs` the generated
tables.
"""

from __future__ import annotations

# The sections, imported in the order their rules run and are documented (docs/guard-rails.md, whose
# test compares it with rules_markdown(), fails if this order changes).
# isort: off
from . import receptor, informacion_global, pago, comprobante, impuestos, cancelacion  # noqa: F401

# isort: on
from ._core import RULES, GuardWarning, Rule, RuleViolation, Severity, Violation
from .checks import (
    check_cancel,
    check_client,
    check_invoice,
    check_payment,
    check_receipt,
    check_receipt_stamp,
)
from .docs import NOT_CHECKED, readme_table, rules_markdown
from .receptor import _check_digit_ok, _usos_for  # noqa: F401  (tests hold them against satcfdi and the catalogs)

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
    "readme_table",
    "rules_markdown",
]
