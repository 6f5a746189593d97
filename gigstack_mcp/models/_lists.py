"""The list filters gigstack documents (gigstack-api.md §1): kept apart from _base so that what the
server imports at start-up (the params base) does not build them; the list tools load them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..clock import mexico_day
from ._base import ListParams, Metadata, _as_object

# A day the user names is a Mexico date (CFDI dates are): gigstack gets its first or last unix second.
Day = Annotated[date, Field(description="YYYY-MM-DD")]


class ListFilters(ListParams):
    """The list filters gigstack documents for every dated list (gigstack-api.md §1 "Common list
    filters"): order, direction and the created range, sent as `created[gte]`/`created[lte]` in unix
    seconds (the spelling gigstack's CLI and n8n node send)."""

    query_fields: ClassVar[tuple[str, ...]] = ("limit", "next", "order_by", "sort")

    order_by: Literal["timestamp", "name"] | None = None
    sort: Literal["asc", "desc"] | None = None  # gigstack's default: desc (newest first)
    date_from: Day | None = None
    date_to: Day | None = None

    @model_validator(mode="after")
    def _range_in_order(self) -> ListFilters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        return self

    def query(self) -> dict[str, Any]:
        q = super().query()
        if self.date_from:
            q["created[gte]"] = mexico_day(self.date_from)[0]
        if self.date_to:
            q["created[lte]"] = mexico_day(self.date_to)[1]
        return q


class MetadataFilters(ListFilters):
    """Plus `metadata.<key>=value` filters. gigstack pages a metadata-filtered list by `page` number,
    not by cursor (gigstack-api.md §1 Pagination): there `next` is that number, sent as `page`."""

    metadata: Metadata | None = None  # only rows whose metadata has every key=value

    @model_validator(mode="after")
    def _next_is_a_page_number(self) -> MetadataFilters:
        if self.metadata and self.next is not None and not (self.next.isdigit() and int(self.next) >= 1):
            raise ValueError(
                f"next {self.next!r} is not a page number: with metadata filters gigstack pages by number, "
                "so pass the `next` a metadata-filtered result gave (e.g. 2)"
            )
        return self

    def query(self) -> dict[str, Any]:
        q = super().query()
        if self.metadata:
            q |= {f"metadata.{key}": value for key, value in _as_object(self.metadata).items()}
            if q.pop("next", None):
                q["page"] = int(self.next or 1)
        return q

    def next_cursor(self, envelope: Mapping[str, Any]) -> str | None:
        if not self.metadata:
            return super().next_cursor(envelope)
        return str(int(self.next or 1) + 1) if envelope.get("has_more") else None
