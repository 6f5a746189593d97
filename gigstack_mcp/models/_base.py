"""Base classes every tool's parameters and results build on."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from ._text import shown

# `team` is on every tool; the server instructions describe it once (a description here would be
# repeated fifty times in every chat).
Team = Annotated[str | None, Field()]
# Advertised as a plain integer: a model asks for a page of 10-50; above 100 the params model refuses it
# with "limit: less than or equal to 100", nothing is sent, and the next call fits.
Limit = Annotated[int, Field(ge=1, le=100), WithJsonSchema({"type": "integer"})]
# Advertised as a plain object: a model sends string values anyway, and a number is refused with an
# error naming the key (the values are still validated as strings).
Metadata = Annotated[dict[str, str], WithJsonSchema({"type": "object"})]
Cursor = Annotated[str | None, Field()]  # the result's text says "call again with next=…"
# A path field goes into the URL as one segment (f"/teams/{id}"): "team_x/series" would address another
# endpoint, "../clients" another resource (the client refuses the latter kind too).
_SEGMENT = re.compile(r"(?!\.{1,2}$)[^/?#%\\\x00-\x20\x7f]+")


def shape(description: str) -> Any:
    """`__get_pydantic_json_schema__ = shape("{a, b: [{c}]}")` in a nested input model: tools advertise
    it as one object with a short description of its fields instead of its full JSON Schema, which
    the create tools would repeat in every chat (~1,600 characters each). Validation is unchanged:
    pydantic still checks every field and constraint of the model server-side, and refuses unknown
    keys with an error naming them."""

    def schema(cls: type, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "object", "description": description}

    return classmethod(schema)


def text(description: str = "", kind: str = "string") -> WithJsonSchema:
    """Advertise a scalar as its type plus a short description (with an example) instead of a long
    pattern; the pattern in the same `Annotated` still validates server-side."""
    return WithJsonSchema({"type": kind, "description": description} if description else {"type": kind})


class ToolParams(BaseModel):
    """A tool's arguments. Body fields keep the API's own names; `path_fields` and `query_fields` are
    sent in the URL instead of the body. `team` is on every tool (gigstack Connect)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    path_fields: ClassVar[tuple[str, ...]] = ()
    query_fields: ClassVar[tuple[str, ...]] = ()
    local_fields: ClassVar[tuple[str, ...]] = ()  # ours, never sent (e.g. confirmation_token)

    team: Team = None

    @model_validator(mode="after")
    def _path_fields_are_one_segment(self) -> ToolParams:
        for name in self.path_fields:
            value = getattr(self, name, None)
            if isinstance(value, str) and not _SEGMENT.fullmatch(value):
                raise ValueError(
                    f"{name} must be one id exactly as gigstack gave it (no /, ?, #, %, \\, spaces or "
                    "control characters; not . or ..)"
                )
        return self

    def body(self) -> dict[str, Any]:
        """The JSON body: every set field under its API name, minus path/query/local fields and team."""
        skip = {"team", *self.path_fields, *self.query_fields, *self.local_fields}
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=skip)

    def query(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True, include=set(self.query_fields))
        return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in data.items()}


class ListParams(ToolParams):
    query_fields: ClassVar[tuple[str, ...]] = ("limit", "next")

    limit: Limit = Field(10, json_schema_extra=lambda s: s.pop("default"))  # 10 when omitted
    next: Cursor = None


class Out(BaseModel):
    """A result model: keeps only the declared fields of gigstack's answer."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def summary(self) -> str:
        """One line for list renderings; resources override it with their key fields."""
        data = self.model_dump(exclude_none=True)
        return ", ".join(f"{k}={shown(v)}" for k, v in data.items() if not isinstance(v, dict | list))


ItemT = TypeVar("ItemT", bound=Out)


class Page(Out, Generic[ItemT]):
    """One page of a list: the items plus how to get the next page."""

    data: list[ItemT] = Field(default_factory=list)
    has_more: bool = False
    next: str | None = Field(None, description="Pass as `next` to get the following page.")
    total_results: int | None = None
    note: str | None = Field(None, description="Set when the result was trimmed or a search bound was hit.")
