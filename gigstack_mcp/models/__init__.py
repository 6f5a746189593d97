"""Pydantic models: tool parameters (the input schema) and results (the output schema), per resource."""

from ._base import Cursor, Limit, ListParams, Out, Page, Team, ToolParams

__all__ = ["Cursor", "Limit", "ListParams", "Out", "Page", "Team", "ToolParams"]
