"""Selecting tools: which of the table's tools a server registers (`--toolsets`, `--tools`,
`--exclude-tools`, `--read-only`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from .spec import ConfigError, Kind, Toolset, ToolSpec

DEFAULT_TOOLSETS = ("clients", "services", "invoices", "payments", "catalogs")


def by_name(table: Iterable[Toolset]) -> dict[str, Toolset]:
    """The table (`tools.TOOLSETS`) by toolset name, in table order."""
    return {t.name: t for t in table}


def _names(text: str | Iterable[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    return [i.strip() for i in items if i.strip()]


def select(
    table: Iterable[Toolset],
    toolsets: str = "default",
    tools: str = "",
    exclude_tools: str = "",
    read_only: bool = False,
) -> list[ToolSpec]:
    """The specs of `table` to register, in table order. Unknown names raise ConfigError listing the
    valid ones. The caller passes the table (`tools.TOOLSETS`): the registry never imports the tools."""
    sets = by_name(table)
    specs = [s for t in sets.values() for s in t.specs]
    return choose(specs, list(sets), toolsets, tools, exclude_tools, read_only)


RowT = TypeVar("RowT")
# Tools folded into others: a configuration that still names one is told where it went.
FOLDED = {"preview_invoice": "create_income_invoice or create_egress_invoice with preview: true"}


def choose(
    rows: list[RowT],
    set_names: list[str],
    toolsets: str = "default",
    tools: str = "",
    exclude_tools: str = "",
    read_only: bool = False,
) -> list[RowT]:
    """`select` over any rows with `name`, `toolset` and `kind` (specs, or the start-up tool cache)."""
    every: dict[str, Any] = {r.name: r for r in rows}  # type: ignore[attr-defined]
    wanted = _names(toolsets) or ["default"]
    chosen: set[str] = set()
    for name in wanted:
        if name == "all":
            chosen |= set(set_names)
        elif name == "default":
            chosen |= {n for n in DEFAULT_TOOLSETS if n in set_names}
        elif name in set_names:
            chosen.add(name)
        else:
            raise ConfigError(f"unknown toolset {name!r}; valid: all, default, {', '.join(set_names)}")
    extra, dropped = _names(tools), _names(exclude_tools)
    for name in extra + dropped:
        if name not in every:
            moved = f" (now {FOLDED[name]})" if name in FOLDED else ""
            raise ConfigError(f"unknown tool {name!r}{moved}; valid: {', '.join(every)}")
    out = [
        s
        for s in every.values()
        if (s.toolset in chosen or s.name in extra)
        and s.name not in dropped
        and (not read_only or s.kind == Kind.READ)
    ]
    return out
