"""Base classes every tool's parameters and results build on."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# `team` is on every tool; the server instructions describe it once (a description here would be
# repeated fifty times in every chat).
Team = Annotated[str | None, Field()]
Limit = Annotated[int, Field(ge=1, le=100)]
Cursor = Annotated[str | None, Field(description="`next` of the previous page.")]


class ToolParams(BaseModel):
    """A tool's arguments. Body fields keep the API's own names; `path_fields` and `query_fields` are
    sent in the URL instead of the body. `team` is on every tool (gigstack Connect)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    path_fields: ClassVar[tuple[str, ...]] = ()
    query_fields: ClassVar[tuple[str, ...]] = ()
    local_fields: ClassVar[tuple[str, ...]] = ()  # ours, never sent (e.g. confirmation_token)

    team: Team = None

    def body(self) -> dict[str, Any]:
        """The JSON body: every set field under its API name, minus path/query/local fields and team."""
        skip = {"team", *self.path_fields, *self.query_fields, *self.local_fields}
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=skip)

    def query(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True, include=set(self.query_fields))
        return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in data.items()}


class ListParams(ToolParams):
    query_fields: ClassVar[tuple[str, ...]] = ("limit", "next")

    limit: Limit = 10
    next: Cursor = None


class Out(BaseModel):
    """A result model: keeps only the declared fields of gigstack's answer."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def summary(self) -> str:
        """One line for list renderings; resources override it with their key fields."""
        data = self.model_dump(exclude_none=True)
        return ", ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, dict | list))


ItemT = TypeVar("ItemT", bound=Out)


class Page(Out, Generic[ItemT]):
    """One page of a list: the items plus how to get the next page."""

    data: list[ItemT]
    has_more: bool = False
    next: str | None = Field(None, description="Pass as `next` to get the following page.")
    total_results: int | None = None
    note: str | None = Field(None, description="Set when the result was trimmed or a search bound was hit.")
