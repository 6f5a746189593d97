"""Sandbox /clients: CRUD, upsert search, fiscal validation, customer portal, pending receipts."""

from __future__ import annotations

import secrets
from typing import Any

from ._core import Ctx, Resource, invalid, not_found, now, ok
from ._fiscal import RFC_RE, ZIP_RE, fiscal_issues
from ._store import Doc, new_id

resource = Resource("clients")
COLL = "clients"
_FIELDS = (
    "name",
    "legal_name",
    "email",
    "tax_id",
    "foreign_tax_id",
    "tax_system",
    "use",
    "address",
    "phone",
    "company",
    "bcc",
    "metadata",
)


def _check_shape(body: dict[str, Any]) -> None:
    """What gigstack itself rejects on create/update (field shapes; completeness is `is_valid`)."""
    rfc = body.get("tax_id")
    if rfc is not None and not RFC_RE.match(str(rfc).upper()):
        raise invalid(f"tax_id {rfc} is not a valid RFC (12 characters for personas morales, 13 for físicas)")
    zip_code = (body.get("address") or {}).get("zip")
    if zip_code is not None and not ZIP_RE.match(str(zip_code)):
        raise invalid(f"address.zip {zip_code} must be a 5-digit postal code")


def _apply(doc: Doc, body: dict[str, Any]) -> Doc:
    for key in _FIELDS:
        if key in body:
            doc[key] = body[key]
    if doc.get("tax_id"):
        doc["tax_id"] = str(doc["tax_id"]).upper()
    if doc.get("legal_name") and not doc.get("name"):
        doc["name"] = doc["legal_name"]
    doc["is_valid"] = not fiscal_issues(doc)
    doc["updated_at"] = now()
    return doc


def find_by(ctx: Ctx, key: str, value: str) -> Doc | None:
    value_n = str(value).strip().lower()
    hits = ctx.store.find(ctx.team, COLL, lambda d: str(d.get(key) or "").strip().lower() == value_n)
    return hits[0] if hits else None


def create(ctx: Ctx, body: dict[str, Any]) -> tuple[Doc, bool]:
    """Create a client (or upsert through `search`). Returns (client, created). Used by invoices and
    payments too, whose `client` may be inline fields with a `search`."""
    _check_shape(body)
    search = body.get("search") or {}
    if search.get("on_key") and search.get("on_value"):
        existing = find_by(ctx, search["on_key"], search["on_value"])
        if existing is not None:
            if search.get("update"):
                _apply(existing, body)
                ctx.store.put(ctx.team, COLL, existing)
            return existing, False
        # auto_create false: not found. Absent: created, like POST /clients' own upsert (gigstack
        # documents no default; its CLI always sends true)
        if search.get("auto_create") is False:
            raise invalid(f"no client with {search['on_key']} = {search['on_value']}", "Client not found")
    doc: Doc = {
        "id": new_id("client"),
        "object": "client",
        "created_at": now(),
        "livemode": False,
        "team": ctx.team,
        "from": "api",
        "address": {"country": "MEX"},
        "metadata": {},
        "defaults": body.get("defaults") or {},
    }
    _apply(doc, body)
    return ctx.store.put(ctx.team, COLL, doc), True


def resolve(ctx: Ctx, ref: dict[str, Any] | None) -> Doc:
    """The client an invoice/payment names: `{id}` or inline fields (+`search`)."""
    if not ref:
        raise invalid("client is required")
    if ref.get("id"):
        return ctx.get_or_404(COLL, ref["id"], "Client")
    return create(ctx, ref)[0]


def summary(doc: Doc) -> Doc:
    keys = ("id", "name", "legal_name", "email", "tax_id", "foreign_tax_id", "tax_system", "use")
    address = doc.get("address") or {}
    return {k: doc.get(k) for k in keys} | {"zip": address.get("zip"), "country": address.get("country")}


@resource.op("GET", "/clients", "list_clients")
def list_clients(ctx: Ctx):
    return ctx.page(COLL, "Clients retrieved successfully")


@resource.op("GET", "/clients/search", "search_clients")
def search_clients(ctx: Ctx):
    q = (ctx.query.get("q") or "").strip().lower()
    if not q:
        raise invalid("q is required", "Invalid query parameter")
    fields = ("name", "legal_name", "email", "tax_id")
    return ctx.page(COLL, "Clients found", lambda d: any(q in str(d.get(f) or "").lower() for f in fields))


@resource.op("POST", "/clients", "create_client")
def create_client(ctx: Ctx):
    doc, created = create(ctx, ctx.body)
    return ok(doc, "Client created successfully" if created else "Client found", 201 if created else 200)


@resource.op("GET", "/clients/{id}", "get_client")
def get_client(ctx: Ctx):
    return ok(ctx.get_or_404(COLL, ctx.params["id"], "Client"), "Client retrieved successfully")


@resource.op("PUT", "/clients/{id}", "update_client")
def update_client(ctx: Ctx):
    doc = ctx.get_or_404(COLL, ctx.params["id"], "Client")
    _check_shape(ctx.body)
    return ok(ctx.store.put(ctx.team, COLL, _apply(doc, ctx.body)), "Client updated successfully")


@resource.op("DELETE", "/clients/{id}", "delete_client")
def delete_client(ctx: Ctx):
    doc = ctx.get_or_404(COLL, ctx.params["id"], "Client")
    ctx.store.delete(ctx.team, COLL, doc["id"])
    return ok({"id": doc["id"], "deleted": True}, "Client deleted successfully")


@resource.op("POST", "/clients/validate/{id}", "validate_client_fiscal_info")
def validate_client(ctx: Ctx):
    doc = ctx.get_or_404(COLL, ctx.params["id"], "Client")
    issues = fiscal_issues(doc)
    doc["is_valid"] = not issues
    ctx.store.put(ctx.team, COLL, doc)
    return ok(
        {
            "id": doc["id"],
            "is_valid": not issues,
            "issues": issues,
            "tax_id": doc.get("tax_id"),
            "validated_at": now(),
        },
        "Client fiscal information is valid" if not issues else "Client fiscal information has issues",
    )


@resource.op("POST", "/clients/customerportal", "create_client_portal_token")
def customer_portal(ctx: Ctx):
    body = ctx.body or {}
    if body.get("id"):
        doc = ctx.get_or_404(COLL, body["id"], "Client")
    elif body.get("email"):
        doc = find_by(ctx, "email", body["email"])
        if doc is None:
            raise not_found("Client", body["email"])
    else:
        raise invalid("id or email is required")
    token = secrets.token_urlsafe(24)
    return ok(
        {
            "url": f"{ctx.sandbox.base_url}/portal/{doc['id']}?token={token}",
            "client_id": doc["id"],
            "expires_at": now() + 5 * 24 * 3600,
        },
        "Customer portal access token created",
    )
