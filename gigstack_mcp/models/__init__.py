"""Pydantic models: tool parameters (the published input schemas) and results, per resource."""

from ._base import Cursor, Limit, ListParams, Out, Page, Team, ToolParams
from ._read import Unreadable, read
from ._text import one_line, plain, quoted, shown

__all__ = [
    "Cursor",
    "Limit",
    "ListParams",
    "Out",
    "Page",
    "Team",
    "ToolParams",
    "Unreadable",
    "one_line",
    "plain",
    "quoted",
    "read",
    "shown",
]
