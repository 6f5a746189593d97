"""Sandbox /services: the product/service catalog items reference (CRUD)."""

from __future__ import annotations

import re
from typing import Any

from ._core import Ctx, Resource, invalid, now, ok
from ._store import Doc, new_id

resource = Resource("services")
COLL = "services"
_FIELDS = (
    "description",
    "unit_price",
    "product_key",
    "unit_key",
    "unit_name",
    "sku",
    "quantity",
    "taxability",
    "taxes",
    "metadata",
)
_PRODUCT_KEY = re.compile(r"^[0-9]{8}$")


def _check(body: dict[str, Any]) -> None:
    price = body.get("unit_price")
    if price is not None and price <= 0:
        raise invalid("unit_price must be greater than 0")
    key = body.get("product_key")
    if key is not None and not _PRODUCT_KEY.match(str(key)):
        raise invalid(f"product_key {key} must be the 8-digit SAT ClaveProdServ, e.g. 80101500")
    for n, tax in enumerate(body.get("taxes") or []):
        tax["type"] = str(tax.get("type", "")).upper()
        if tax.get("factor") != "Exento" and tax.get("rate") is None:
            raise invalid(f"taxes.{n}.rate is required unless factor is Exento")


def _apply(doc: Doc, body: dict[str, Any]) -> Doc:
    for key in _FIELDS:
        if key in body:
            doc[key] = body[key]
    doc["updated_at"] = now()
    return doc


@resource.op("GET", "/services", "list_services")
def list_services(ctx: Ctx):
    return ctx.page(COLL, "Services retrieved successfully")


@resource.op("POST", "/services", "create_service")
def create_service(ctx: Ctx):
    body = ctx.body
    if not body.get("description") or body.get("unit_price") is None:
        raise invalid("description and unit_price are required")
    _check(body)
    doc: Doc = {
        "id": new_id("service"),
        "object": "service",
        "created_at": now(),
        "livemode": False,
        "team": ctx.team,
        "taxability": "02",
        "taxes": [],
        "metadata": {},
    }
    return ok(ctx.store.put(ctx.team, COLL, _apply(doc, body)), "Service created successfully", 201)


@resource.op("GET", "/services/{id}", "get_service")
def get_service(ctx: Ctx):
    return ok(ctx.get_or_404(COLL, ctx.params["id"], "Service"), "Service retrieved successfully")


@resource.op("PUT", "/services/{id}", "update_service")
def update_service(ctx: Ctx):
    doc = ctx.get_or_404(COLL, ctx.params["id"], "Service")
    _check(ctx.body)
    return ok(ctx.store.put(ctx.team, COLL, _apply(doc, ctx.body)), "Service updated successfully")


@resource.op("DELETE", "/services/{id}", "delete_service")
def delete_service(ctx: Ctx):
    doc = ctx.get_or_404(COLL, ctx.params["id"], "Service")
    ctx.store.delete(ctx.team, COLL, doc["id"])
    return ok({"id": doc["id"], "deleted": True}, "Service deleted successfully")
