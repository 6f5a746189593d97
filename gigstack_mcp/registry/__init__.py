"""The registry: every tool declaration (`tools/<resource>.py`) becomes an MCP tool with the same
shape — flat arguments from the params model (+`team`), annotations from its kind, structured output
plus a compact text rendering, API errors as actionable tool errors, results capped in size, guard
rails before any request, and confirmation before anything destructive.

One job per module: spec.py declares, select.py selects (from the table its caller passes: nothing
here imports `tools/`), pipeline.py is the call path (parse -> policy -> guard -> confirm -> execute ->
render; a write's rehearsal: parse -> policy -> guard -> rehearsal -> render), confirmation.py the
confirmation step, render.py the results, errors.py the error wording, sdk.py the one module that knows
the SDK's internals."""

from __future__ import annotations

from typing import Any

from ..guards.refusal import GuardViolation, Refused, refuse
from .select import DEFAULT_TOOLSETS, by_name, choose, select
from .spec import (
    CONFIRMABLE_WRITES,
    ConfigError,
    Guard,
    Kind,
    Preview,
    Rehearsal,
    ToolFn,
    Toolset,
    ToolSpec,
)

# The call path loads on first use: a start-up served from the tool cache only selects (select.py).
_LAZY = {
    "CHECK_WITH": "errors",
    "check_with": "errors",
    "describe_error": "errors",
    "error_result": "errors",
    "refusal_result": "errors",
    "DestructiveResult": "render",
    "WithWarnings": "render",
    "render_text": "render",
    "to_call_result": "render",
    "GigstackTool": "sdk",
    "build_tool": "sdk",
    "build_tools": "sdk",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import errors, render, sdk

        return getattr({"errors": errors, "render": render, "sdk": sdk}[_LAZY[name]], name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECK_WITH",
    "CONFIRMABLE_WRITES",
    "DEFAULT_TOOLSETS",
    "ConfigError",
    "DestructiveResult",
    "GigstackTool",
    "Guard",
    "GuardViolation",
    "Kind",
    "Preview",
    "Refused",
    "Rehearsal",
    "ToolFn",
    "ToolSpec",
    "Toolset",
    "WithWarnings",
    "build_tool",
    "build_tools",
    "by_name",
    "check_with",
    "choose",
    "describe_error",
    "error_result",
    "refusal_result",
    "refuse",
    "render_text",
    "select",
    "to_call_result",
]
