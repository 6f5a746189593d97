"""Base classes every tool's parameters and results build on."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)

from ._read import copy_json
from ._text import shown

# `team` is on every tool; the server instructions describe it once (a description here would be
# repeated fifty times in every chat).
Team = Annotated[str | None, Field()]
Limit = Annotated[int, Field(ge=1, le=100)]
Cursor = Annotated[str | None, Field()]  # the result's text says "call again with next=…"
# A path field goes into the URL as one segment (f"/teams/{id}"): "team_x/series" would address another
# endpoint, "../clients" another resource (the client refuses the latter kind too).
_SEGMENT = re.compile(r"(?!\.{1,2}$)[^/?#%\\\x00-\x20\x7f]+")


def _drop_nulls(data: Any) -> Any:
    """`null` means "not given" for every optional argument, at every depth: strict-mode clients (OpenAI)
    fill every optional argument with null. A required one given null is then reported as required."""
    return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


def _prune(node: Any) -> Any:
    """Drop objects left empty (e.g. `address: {}` after its nulls went): sending one would wipe the
    stored object on an update."""
    if isinstance(node, dict):
        kept = {k: _prune(v) for k, v in node.items()}
        return {k: v for k, v in kept.items() if v != {}}
    if isinstance(node, list):
        return [_prune(v) for v in node]
    return node


class Strict(BaseModel):
    """A nested input object: unknown keys are an error naming the keys it takes (a typo must not
    silently drop a field of a tax document), and null is "not given". Values are taken as the schema
    types them (strict: `true` is not a quantity, "2" is not a number)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_not_given(cls, data: Any) -> Any:
        return _drop_nulls(data)


def _pairs(value: Any) -> Any:
    """gigstack's own plain object is read as its pairs too."""
    if not isinstance(value, dict):
        return value
    return [f"{k}={v}" if isinstance(v, str) else v for k, v in value.items()]  # a number: refused


def _as_object(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


# Free-form maps go out as "key=value" strings: an array of strings is what OpenAI strict mode (no open
# objects), Gemini (no object without properties) and Anthropic all accept, and the shortest such
# form ({key, value} objects cost ~600 more characters of the default tools/list). gigstack gets its
# plain object; a key cannot contain "=".
Metadata = Annotated[
    list[Annotated[str, Field(pattern=r"^[^=]+="), WithJsonSchema({"type": "string"})]],  # as described
    BeforeValidator(_pairs),
    PlainSerializer(_as_object),
    Field(description="key=value"),
]


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

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_not_given(cls, data: Any) -> Any:
        return _drop_nulls(data)

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

    # The body, built on first use: the guard rails, the preview token and the request read this one.
    _built: dict[str, Any] | None = PrivateAttr(None)

    def body(self) -> dict[str, Any]:
        """The JSON body: every set field under its API name, minus path/query/local fields and team.
        Built once per instance; each caller gets its own copy (some add or pop keys before sending)."""
        if self._built is None:
            self._built = self._build_body()
        return copy_json(self._built)

    def _build_body(self) -> dict[str, Any]:
        skip = {"team", *self.path_fields, *self.query_fields, *self.local_fields}
        return _prune(self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=skip))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy builds its own body (an update changes it)."""
        copy = super().model_copy(update=update, deep=deep)
        copy._built = None
        return copy

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in type(self).model_fields:
            self._built = None  # a field changed: the body is built again on next use

    def query(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True, include=set(self.query_fields))
        return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in data.items()}


class ListParams(ToolParams):
    query_fields: ClassVar[tuple[str, ...]] = ("limit", "next")

    limit: Limit = 10
    next: Cursor = None

    def next_cursor(self, envelope: Mapping[str, Any]) -> str | None:
        """What the result offers as `next`: gigstack's cursor."""
        return envelope.get("next")


# gigstack's spellings of one state (gigstack-api.md §4.10): its n8n node writes "canceled", its CLI
# and its answers "cancelled". Filters send, and results show, the CLI's word.
SPELLINGS: Mapping[str, str] = {"canceled": "cancelled"}


def spelled(spellings: Mapping[str, str]) -> Callable[[Any], Any]:
    """A validator putting a status in the one spelling the rest of the server compares against."""

    def one_spelling(value: Any) -> Any:
        return spellings.get(value, value) if isinstance(value, str) else value

    return one_spelling


same_state = spelled(SPELLINGS)
# A status read from gigstack's answer (any spelling is read; the usual one is shown).
ReadStatus = Annotated[str, BeforeValidator(same_state)]
# A status filter's value, sent in the CLI's spelling.
WireStatus = AfterValidator(same_state)


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
