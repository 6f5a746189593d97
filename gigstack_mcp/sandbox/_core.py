"""What every sandbox endpoint shares: errors in gigstack's shape, envelopes, pagination, the request
context, and the `operation` decorator that validates bodies against the contract and replays
idempotent creates. Resource modules (`clients.py`, `invoices.py`, ...) only hold domain behaviour."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import clock
from ._store import Doc, Store

DEFAULT_TEAM = "team_sandbox"


class ApiError(Exception):
    """Becomes gigstack's documented error envelope `{message, error}` plus a machine-readable `code`."""

    def __init__(self, status: int, message: str, error: str, code: str) -> None:
        super().__init__(f"{status} {message}: {error}")
        self.status, self.message, self.error, self.code = status, message, error, code

    def response(self) -> JSONResponse:
        return JSONResponse({"message": self.message, "error": self.error, "code": self.code}, self.status)


def invalid(error: str, message: str = "Invalid request body") -> ApiError:
    return ApiError(400, message, error, "validation_failed")


def not_found(what: str, id: str) -> ApiError:
    return ApiError(404, f"{what} not found", f"No {what.lower()} with id {id}", "resource_not_found")


def conflict(message: str, error: str, code: str = "business_rule_violation") -> ApiError:
    return ApiError(409, message, error, code)


def now() -> int:
    return clock.unix()


def ok(data: Any, message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"message": message, "data": data}, status)


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s:"):
            raise ValueError
        return int(raw[2:])
    except ValueError:
        raise invalid("next is not a cursor returned by this API", "Invalid pagination cursor") from None


def _unix(value: str | None, name: str) -> int | None:
    """A `created[...]` filter: unix seconds, else 400 (not a crash)."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise invalid(f"{name} must be a unix timestamp in seconds", "Invalid query parameter") from None


def _name(doc: Doc) -> str:
    client = doc.get("client") if isinstance(doc.get("client"), dict) else {}
    return str(doc.get("name") or doc.get("legal_name") or doc.get("description") or client.get("name") or "")


def _positive(value: str, name: str, most: int | None = None) -> int:
    """`limit` (1-100) or `page` (from 1), else 400."""
    allowed = f"an integer from 1 to {most}" if most else "a positive integer"
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"{name} must be {allowed}", "Invalid query parameter") from None
    if number < 1 or (most is not None and number > most):
        raise invalid(f"{name} must be {allowed}", "Invalid query parameter")
    return number


@dataclass
class Ctx:
    """One request: who (team), what (path params, query, body) and where state lives (store)."""

    request: Request
    store: Store
    team: str
    body: Any
    sandbox: Any  # the SandboxState, for base_url and helpers shared across resources
    account: str  # the API key's home team: whose teams and users this request sees

    @property
    def params(self) -> dict[str, str]:
        return self.request.path_params

    @property
    def query(self) -> Any:
        return self.request.query_params

    def get_or_404(self, coll: str, id: str, what: str) -> Doc:
        doc = self.store.get(self.team, coll, id)
        if doc is None:
            raise not_found(what, id)
        return doc

    def page(self, coll: str, message: str, pred: Callable[[Doc], bool] | None = None) -> JSONResponse:
        """gigstack's list envelope: newest first (sort=asc to flip), `limit` 1-100, opaque `next` cursor;
        a metadata-filtered list pages by `page` number instead (gigstack-api.md §1 Pagination)."""
        q = self.query
        limit = _positive(q.get("limit", "10"), "limit", 100)
        rows = self.store.all(self.team, coll)
        gte = _unix(q.get("created[gte]") or q.get("created_gte"), "created[gte]")
        lte = _unix(q.get("created[lte]") or q.get("created_lte"), "created[lte]")
        metadata = {
            k.split(".", 1)[-1].removeprefix("metadata_"): v
            for k, v in q.items()
            if k.startswith(("metadata.", "metadata_"))
        }
        rows = [
            (seq, d)
            for seq, d in rows
            if (pred is None or pred(d))
            and (gte is None or d.get("created_at", 0) >= gte)
            and (lte is None or d.get("created_at", 0) <= lte)
            and all(str((d.get("metadata") or {}).get(k)) == v for k, v in metadata.items())
        ]
        ascending = q.get("sort") == "asc"
        if q.get("order_by") == "name":  # a service's name is its description; a document's, its client's
            rows.sort(key=lambda r: (_name(r[1]), r[0]))
        if not ascending:
            rows.reverse()
        total = len(rows)
        if metadata:  # by number; a `next` cursor means nothing here (the first page again)
            number = _positive(q.get("page", "1"), "page")
            chunk = rows[(number - 1) * limit : number * limit]
            has_more = len(rows) > number * limit
            body = {"message": message, "data": [d for _, d in chunk], "next": None, "has_more": has_more}
            return JSONResponse(body | {"total_results": total, "page": number})
        cursor = q.get("next")
        if cursor:
            after = _decode_cursor(cursor)
            idx = next((i for i, (seq, _) in enumerate(rows) if seq == after), None)
            if idx is None:
                raise invalid("next is not a cursor returned by this API", "Invalid pagination cursor")
            rows = rows[idx + 1 :]
        chunk = rows[:limit]
        has_more = len(rows) > limit
        return JSONResponse(
            {
                "message": message,
                "data": [d for _, d in chunk],
                "next": _encode_cursor(chunk[-1][0]) if has_more else None,
                "has_more": has_more,
                "total_results": total,
            }
        )


Handler = Callable[[Ctx], Awaitable[Response] | Response]


@dataclass
class Operation:
    method: str
    path: str  # under /v2, Starlette syntax: /clients/{id}
    operation_id: str
    handler: Handler


@dataclass
class Resource:
    """A resource module's table of operations, collected by the app."""

    name: str
    operations: list[Operation] = field(default_factory=list)
    seed: Callable[[Store, str], None] | None = None  # demo data for a fresh team, run by the app

    def seeds(self, fn: Callable[[Store, str], None]) -> Callable[[Store, str], None]:
        """Decorator: `fn(store, team)` adds this resource's demo data to a freshly seeded team."""
        self.seed = fn
        return fn

    def op(self, method: str, path: str, operation_id: str):
        """Decorator: `fn` serves this contract operation (create_app refuses one the contract lacks)."""

        def deco(fn: Handler) -> Handler:
            self.operations.append(Operation(method, path, operation_id, fn))
            return fn

        return deco
