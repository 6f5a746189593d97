"""The one refusal type: input we know gigstack or the SAT would reject. It carries, when a SAT rule
refused it, each rule's ID, field, value and allowed values, from the rule to the tool error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


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
