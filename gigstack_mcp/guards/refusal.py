"""The one refusal type: input we know gigstack or the SAT would reject, or a call the server will not
make. It carries each broken rule's ID, field, value and allowed values from the rule to the tool error
(text and structured content alike): the SAT rules of the CFDI table (guards/cfdi), the rules of
`REFUSALS` below (raised with `refuse`) and the spend policy's rules (policy.PolicyRefusal).

`table()` is `REFUSALS` as the table in docs/reliability.md (tests/test_refusal_ids.py compares them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# The refusals made outside the CFDI table: ID -> when. IDs are stable (the model, tests and audit
# trails match on them); the policy's own rules are named by their policy key (docs/policy.md).
REFUSALS: dict[str, str] = {
    "ARGS-NO-CHANGE": "An update names no field to change (update_client, update_service, update_team, update_user).",
    "ARGS-CLIENT-ID-OR-EMAIL": "create_client_portal_token needs the client's id or email.",
    "ARGS-ROLE-AUTO-JOIN": "create_user: `role` only applies with auto_join=true.",
    "CATALOG-QUERY": "lookup_catalog was given nothing to look up (no catalog, code, query or regimen).",
    "CATALOG-CODE": "lookup_catalog: the code is not in the catalog(s) for CFDI 4.0 (legacy codes say why).",
    "CATALOG-REGIMEN": "lookup_catalog: the régimen is not valid in CFDI 4.0, does not apply to the persona, "
    "or was combined with a catalog other than uso-cfdi.",
    "CATALOG-NO-MATCH": "lookup_catalog: nothing matches the arguments given.",
    "PAID-FORMA-99": "Money received (register_payment, mark_payment_paid, create_receipt) states how it "
    "was paid: payment_form 99 (por definir) is refused.",
    "PAID-ON-FUTURE": "register_payment: paid_on is a day in the future (Mexico time).",
    "PAYMENT-NO-INVOICES": "register_payment: `invoices` is not a gigstack argument (PPD: automation_type "
    "ppd_invoice_and_complement).",
    "REFUND-NOT-COLLECTED": "refund_payment: only a succeeded (collected) payment can be refunded.",
    "REFUND-OVER-LEFT": "refund_payment: the amount is above what is left to refund.",
    "REFUND-EXTERNAL": "refund_payment: external_processor_refund on a payment no processor collected.",
    "PAYMENT-CANCEL-STATUS": "cancel_payment: the payment succeeded (refund it) or its status cannot be cancelled.",
    "RECEIPT-FISCAL-INFO": "stamp_receipt: fiscal_information goes only with stamp_to client.",
    "RECEIPT-NO-CLIENT": "stamp_receipt to client: the receipt has no client and no fiscal_information was given.",
    "RECEIPT-INVOICED": "cancel_receipt: the receipt is already invoiced (cancel that invoice instead).",
    "RECEIPT-TWICE": "A global income invoice whose lines name open receipts (sku): they would be invoiced twice.",
    "TEAM-NOT-ALLOWED": "HTTP: the caller's MCP token is pinned to other teams, or the resource is "
    "account-wide (teams, users) and the token is pinned (docs/http.md).",
    "TEAM-NOT-MEMBER": "remove_team_member: the user is not a member of that team.",
    "ITEM-DESCRIPTION": "An invoice preview (preview true): an item has no description and references no service.",
    "ITEM-SKU-NOT-FOUND": "An invoice preview (preview true): an item's search names a SKU no service has, without auto_create.",
    "ITEM-AMOUNTS": "An invoice preview (preview true): an item's quantity, price, discount or taxes cannot be computed.",
    "PREVIEW-REQUIRED": "The server requires a preview (GIGSTACK_REQUIRE_PREVIEW) and no preview_token was given.",
    "PREVIEW-TOKEN": "The preview_token is malformed, expired, or was issued for other arguments or caller.",
    "CONFIRM-TOKEN": "The confirmation_token is malformed, expired, or was issued for another operation, "
    "other arguments or another caller.",
    "CONFIRM-USED": "The confirmation was already used: one yes executes one operation.",
    "CONFIRM-STORE": "The record of used confirmations (memory or Redis) cannot answer: nothing is done (fail closed).",
    "CONFIRM-STATE": "2026-07-28: an elicitation answer came back without its sealed question.",
}


@dataclass(frozen=True)
class Refused:
    """One broken rule, as the tool error's structured content shows it."""

    rule: str
    field: str
    value: Any
    allowed: str

    def as_dict(self) -> dict[str, Any]:
        value = self.value if isinstance(self.value, str | int | float | bool | None) else str(self.value)
        return {"rule": self.rule, "field": self.field, "value": value, "allowed": self.allowed}


class GuardViolation(Exception):
    """Input we know gigstack/SAT would reject: becomes a tool error and nothing is sent."""

    def __init__(self, message: Any, refused: Iterable[Refused] = ()) -> None:
        super().__init__(message)
        self.refused = list(refused)

    @property
    def rule_ids(self) -> list[str]:
        return [r.rule for r in self.refused]

    @classmethod
    def from_rules(cls, exc: Any) -> GuardViolation:
        """From a `guards.cfdi.RuleViolation`: its text (which names every rule ID) and its rules."""
        return cls(
            str(exc),
            [Refused(v.rule_id, v.field, v.value, v.allowed) for v in getattr(exc, "violations", [])],
        )


class RefusedArgument(ValueError):
    """A refusal raised in a params model's validator: pydantic collects it (a ValueError) and the
    pipeline's parse step raises the GuardViolation it carries, before anything is read or sent."""

    def __init__(self, violation: GuardViolation) -> None:
        super().__init__(str(violation))
        self.violation = violation


def refuse(
    rule: str, message: str, *, field: str = "", value: Any = None, allowed: str = ""
) -> GuardViolation:
    """A refusal of `REFUSALS`: the text opens with `[RULE]`, as a CFDI rule's line does."""
    if rule not in REFUSALS:
        raise KeyError(f"{rule} is not in guards.refusal.REFUSALS: add it there (and to docs/reliability.md)")
    return GuardViolation(f"[{rule}] {message}", [Refused(rule, field, value, allowed)])


def table() -> str:
    """`REFUSALS` as the Markdown table of docs/reliability.md ("Refusals outside the CFDI table")."""
    rows = [f"| {rule} | {when} |" for rule, when in REFUSALS.items()]
    return "\n".join(["| Rule | When |", "|---|---|", *rows])
