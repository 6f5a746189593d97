"""Pydantic models: tool parameters (the published input schemas) and results, per resource."""

from ._base import Cursor, Limit, ListParams, Out, Page, Team, ToolParams

__all__ = ["Cursor", "Limit", "ListParams", "Out", "Page", "Team", "ToolParams"]
