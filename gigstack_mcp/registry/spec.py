"""Declaring tools: a tool is a small async function `(api, params) -> result model` in
`tools/<resource>.py`, registered on its `Toolset` with its kind (read, write, destructive), and, for
writes, the guard rails and preview the call path (pipeline.py) runs before it, and the rehearsal a write
runs instead of itself when its arguments say `preview` (a read: nothing sent, nothing to confirm)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mcp.types import ToolAnnotations
from pydantic import BaseModel

from ..context import Api
from ..models import ToolParams

ToolFn = Callable[[Api, Any], Awaitable[Any]]
Guard = Callable[[Api, Any], Awaitable[list[str]]]  # returns warnings; raises GuardViolation
Preview = Callable[[Api, Any], Awaitable[str]]
# What the write would do, computed with reads only; gets the guard rails' warnings to show with it.
Rehearsal = Callable[[Api, Any, list[str]], Awaitable[BaseModel]]

# Writes that move money can be put behind a person's yes by the spend policy (docs/policy.md): they carry
# the same confirmation step as destructive tools, used only when the policy asks for it.
# (A credit note moves no money in: it is stamped against an income invoice the policy already saw.)
# (A payment link collects nothing by itself: its money limit is enough.)
CONFIRMABLE_WRITES = frozenset({"create_income_invoice", "register_payment", "stamp_receipt"})


class Kind(StrEnum):
    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


class ConfigError(ValueError):
    """Bad --toolsets/--tools/--exclude-tools: stops start-up with the valid names."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    toolset: str
    kind: Kind
    fn: ToolFn
    params: type[ToolParams]
    output: type[BaseModel]
    idempotent: bool
    guard: Guard | None = None
    preview: Preview | None = None
    rehearsal: Rehearsal | None = None

    def rehearses(self, p: Any) -> bool:
        """This call only rehearses the write (its `preview` argument is true): a read."""
        return self.rehearsal is not None and getattr(p, "preview", None) is True

    @property
    def confirmable(self) -> bool:
        """Carries the confirmation step: always used by destructive tools, by money writes when the
        spend policy asks for it."""
        return self.kind is Kind.DESTRUCTIVE or self.name in CONFIRMABLE_WRITES

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.fn.__doc__ or self.title)

    @property
    def annotations(self) -> ToolAnnotations:
        """Only the hints that differ from the MCP defaults (readOnly false, destructive true, idempotent
        false, openWorld true), plus destructiveHint: true on destructive tools, said explicitly:
        reads {readOnlyHint}, writes {destructiveHint: false[, idempotentHint]}, destructive tools
        {destructiveHint: true[, idempotentHint]}, catalogs also {openWorldHint: false} (local data).
        The spec gives destructiveHint and idempotentHint a meaning only when readOnlyHint is false, so
        a read carries neither. No title: the tool's own title says it once. Every hint is paid for in
        every chat."""
        if self.kind is Kind.READ:
            return ToolAnnotations(
                read_only_hint=True, open_world_hint=False if self.toolset == "catalogs" else None
            )
        return ToolAnnotations(
            destructive_hint=self.kind is Kind.DESTRUCTIVE,
            idempotent_hint=True if self.idempotent else None,
            open_world_hint=False if self.toolset == "catalogs" else None,
        )


@dataclass
class Toolset:
    """A group of tools users switch on and off together (`--toolsets`)."""

    name: str
    description: str
    specs: list[ToolSpec] = field(default_factory=list)

    def _add(
        self,
        kind: Kind,
        title: str,
        idempotent: bool,
        guard: Guard | None,
        preview: Preview | None,
        rehearsal: Rehearsal | None = None,
    ):
        def deco(fn: ToolFn) -> ToolFn:
            hints = inspect.get_annotations(fn, eval_str=True)
            params = next((h for n, h in hints.items() if n != "return" and n != "api"), ToolParams)
            self.specs.append(
                ToolSpec(
                    fn.__name__,
                    title,
                    self.name,
                    kind,
                    fn,
                    params,
                    hints["return"],
                    idempotent,
                    guard,
                    preview,
                    rehearsal,
                )
            )
            return fn

        return deco

    def read(self, title: str):
        return self._add(Kind.READ, title, True, None, None)

    def write(
        self,
        title: str,
        *,
        idempotent: bool = False,
        guard: Guard | None = None,
        rehearsal: Rehearsal | None = None,
    ):
        return self._add(Kind.WRITE, title, idempotent, guard, None, rehearsal)

    def destructive(
        self, title: str, *, preview: Preview, guard: Guard | None = None, idempotent: bool = True
    ):
        return self._add(Kind.DESTRUCTIVE, title, idempotent, guard, preview)
