"""Rendering results: the structured result, its compact text twin, capped in size, plus warnings."""

from __future__ import annotations

import json
from typing import Any, Generic, Literal, TypeVar

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from ..models import Out, Page, one_line, plain, quoted

T = TypeVar("T")


class DestructiveResult(Out, Generic[T]):
    """What a destructive tool answers: done, declined, or waiting for the user's confirmation."""

    status: Literal["done", "confirmation_required", "declined"]
    message: str
    preview: str = Field(description="Exactly what happens (or happened): show this to the user.")
    confirmation_token: str | None = Field(
        None, description="Pass back, after the user says yes, to execute."
    )
    expires_at: int | None = None
    result: T | None = None


class WithWarnings(BaseModel):
    warnings: list[str] | None = None


# Fields whose text we wrote ourselves (whole sentences that quote the data inside them): one line, no
# quotes of their own. Every other string in a text result may come from gigstack and is quoted.
_OWN_TEXT = frozenset({"message", "preview", "note"})


def _scalar(v: Any, own: bool = False) -> str:
    """One value of a `key: value` line. Strings from gigstack are quoted unless they are a bare token
    (an id, code, RFC, e-mail, URL); objects and lists are JSON with every invisible character escaped."""
    if isinstance(v, dict | list):
        return one_line(json.dumps(v, ensure_ascii=False, separators=(",", ":")))
    if isinstance(v, str):
        return one_line(v) if own or plain(v) else quoted(v)
    return str(v)


def render_text(result: BaseModel) -> str:
    """The compact text twin of the structured result. Text stored in gigstack comes out quoted and
    escaped (models/_text.py): it can neither start a line of its own nor pass for our words."""
    if isinstance(result, Page):
        total = f" of {result.total_results}" if result.total_results is not None else ""
        lines = [f"{len(result.data)}{total} items."]
        lines += [f"- {one_line(item.summary())}" for item in result.data]
        if result.has_more and result.next:
            lines.append(f"More: call again with next={_scalar(result.next)}")
        if result.note:
            lines.append(f"Note: {one_line(result.note)}")
        return "\n".join(lines)
    as_text = getattr(result, "as_text", None)  # a result that reads better as prose (invoice preview)
    if callable(as_text):
        return as_text()
    data = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return "\n".join(f"{k}: {_scalar(v, k in _OWN_TEXT)}" for k, v in data.items())


def _cap(result: BaseModel, limit: int) -> tuple[BaseModel, str]:
    text = render_text(result)

    def size(r: BaseModel, t: str) -> int:
        return len(t) + len(json.dumps(r.model_dump(mode="json", exclude_none=True), ensure_ascii=False))

    if isinstance(result, Page) and size(result, text) > limit:
        page = result.model_copy(deep=True)
        while page.data and size(page, render_text(page)) > limit:
            page.data.pop()
        page.note = (
            f"Trimmed to {len(page.data)} items to stay under {limit} characters; "
            "ask for a smaller `limit` to page through the rest."
        )
        return page, render_text(page)
    if len(text) > limit:
        text = text[: limit - 80] + "\n… (text truncated; the structured result has the fields)"
    return result, text


def to_call_result(result: BaseModel, limit: int, warnings: list[str]) -> CallToolResult:
    result, text = _cap(result, limit)
    structured = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    if warnings:
        text = "Warnings:\n" + "\n".join(f"- {one_line(w)}" for w in warnings) + "\n\n" + text
        structured["warnings"] = warnings
    content: list[Any] = [TextContent(type="text", text=text)]
    extra = getattr(result, "extra_content", None)  # e.g. an embedded PDF, kept out of structured content
    if callable(extra):
        content += extra()
    return CallToolResult(content=content, structured_content=structured)
