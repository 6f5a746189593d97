"""Services tools end to end: MCP client session -> server -> httpx -> sandbox on 127.0.0.1."""

from __future__ import annotations

import pytest

from .conftest import both_eras, call_err, call_ok, one_era

pytestmark = [pytest.mark.anyio, one_era]
TEAM = "team_sandbox"
NEW = {
    "description": "Soporte técnico",
    "unit_price": 850,
    "product_key": "81111811",
    "unit_key": "E48",
    "sku": "SUP-01",
    "taxes": [{"type": "IVA", "rate": 0.16}],
}


async def test_list_and_get_services(mcp):
    page = await call_ok(mcp, "list_services", {"limit": 1})
    assert len(page["data"]) == 1 and page["has_more"] and page["total_results"] == 2
    rest = await call_ok(mcp, "list_services", {"limit": 1, "next": page["next"]})
    assert {page["data"][0]["id"], rest["data"][0]["id"]} == {"service_consultoria", "service_hosting"}
    got = await call_ok(mcp, "get_service", {"id": "service_hosting"})
    assert got["unit_price"] == 500 and got["product_key"] == "81112105"
    assert got["taxes"][0]["type"] == "IVA"


async def test_list_and_get_errors(mcp, sandbox):
    text = await call_err(mcp, "get_service", {"id": "service_missing"})
    assert "404" in text and "Service not found" in text
    text = await call_err(mcp, "list_services", {"next": "not-a-cursor"})
    assert "400" in text and "cursor" in text
    before = len(sandbox.state.api_requests())
    assert "limit" in await call_err(mcp, "list_services", {"limit": 0})
    assert "id" in await call_err(mcp, "get_service", {"id": ""})
    assert len(sandbox.state.api_requests()) == before


async def test_create_and_update_service(mcp, sandbox):
    created = await call_ok(mcp, "create_service", NEW)
    assert created["id"].startswith("service_") and created["sku"] == "SUP-01"
    stored = sandbox.state.store.get(TEAM, "services", created["id"])
    assert stored["taxes"] == [{"type": "IVA", "rate": 0.16}] and stored["unit_price"] == 850
    updated = await call_ok(mcp, "update_service", {"id": created["id"], "unit_price": 900})
    assert updated["unit_price"] == 900 and updated["description"] == "Soporte técnico"
    assert sandbox.state.store.get(TEAM, "services", created["id"])["unit_price"] == 900


async def test_create_and_update_errors(mcp, sandbox):
    text = await call_err(mcp, "update_service", {"id": "service_missing", "unit_price": 1})
    assert "404" in text
    before = len(sandbox.state.api_requests())
    for bad in ({**NEW, "unit_price": 0}, {**NEW, "product_key": "8011"}, {**NEW, "colour": "red"}):
        await call_err(mcp, "create_service", bad)
    await call_err(mcp, "create_service", {**NEW, "taxes": [{"type": "VAT", "rate": 0.16}]})
    await call_err(mcp, "create_service", {**NEW, "taxes": [{"type": "IVA", "rat": 0.16}]})
    assert "at least one field" in await call_err(mcp, "update_service", {"id": "service_hosting"})
    assert len(sandbox.state.api_requests()) == before
    assert sandbox.state.store.count(TEAM, "services") == 2


@both_eras
async def test_delete_service_needs_confirmation(mcp, sandbox):
    first = await call_ok(mcp, "delete_service", {"id": "service_hosting"})
    assert first["status"] == "confirmation_required"
    assert "Hosting mensual" in first["preview"] and "500.00" in first["preview"]
    assert sandbox.state.store.get(TEAM, "services", "service_hosting") is not None
    assert not sandbox.state.api_requests("DELETE")
    done = await call_ok(
        mcp, "delete_service", {"id": "service_hosting", "confirmation_token": first["confirmation_token"]}
    )
    assert done["status"] == "done" and done["result"]["deleted"] is True
    assert sandbox.state.store.get(TEAM, "services", "service_hosting") is None


@both_eras
async def test_delete_service_errors(mcp, sandbox):
    text = await call_err(mcp, "delete_service", {"id": "service_missing"})
    assert "404" in text
    first = await call_ok(mcp, "delete_service", {"id": "service_hosting"})
    text = await call_err(
        mcp,
        "delete_service",
        {"id": "service_consultoria", "confirmation_token": first["confirmation_token"]},
    )
    assert "Nothing was done" in text
    assert not sandbox.state.api_requests("DELETE")
