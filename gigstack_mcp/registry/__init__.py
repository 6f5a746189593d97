"""The registry: every tool declaration (`tools/<resource>.py`) becomes an MCP tool with the same
shape — flat arguments from the params model (+`team`), annotations from its kind, structured output
plus a compact text rendering, API errors as actionable tool errors, results capped in size, guard
rails before any request, and confirmation before anything destructive.

One job per module: spec.py declares, select.py selects (from the table its caller passes: nothing
here imports `tools/`), pipeline.py is the call path (parse -> policy -> guard -> confirm -> execute ->
render), confirmation.py the confirmation step, render.py the results, errors.py the error wording,
sdk.py the one module that knows the SDK's internals."""

from ..guards.refusal import GuardViolation, Refused
from .errors import CHECK_WITH, check_with, describe_error, error_result, refusal_result
from .render import DestructiveResult, WithWarnings, render_text, to_call_result
from .sdk import GigstackTool, build_tool, build_tools
from .select import DEFAULT_TOOLSETS, by_name, choose, select
from .spec import CONFIRMABLE_WRITES, ConfigError, Guard, Kind, Preview, ToolFn, Toolset, ToolSpec

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
    "render_text",
    "select",
    "to_call_result",
]
