"""Clients tools end to end: MCP client session -> server -> httpx -> sandbox on 127.0.0.1."""

from __future__ import annotations

import pytest

from gigstack_mcp.sandbox.examples import new_client

from .conftest import both_eras, call_err, call_ok, one_era

pytestmark = [pytest.mark.anyio, one_era]

NEW_CLIENT = new_client()


async def test_list_clients_pages_and_finds(mcp, sandbox):
    page = await call_ok(mcp, "list_clients", {"limit": 2})
    assert len(page["data"]) == 2 and page["has_more"] and page["total_results"] == 3
    rest = await call_ok(mcp, "list_clients", {"limit": 2, "next": page["next"]})
    ids = {c["id"] for c in page["data"]} | {c["id"] for c in rest["data"]}
    assert len(ids) == 3 and not rest["has_more"]
    found = await call_ok(mcp, "list_clients", {"query": "pegj800101"})
    assert [c["id"] for c in found["data"]] == ["client_juan_perez"]


async def test_create_get_update_client(mcp, sandbox):
    created = await call_ok(mcp, "create_client", NEW_CLIENT)
    assert created["is_valid"] is True and created["tax_id"] == "GORL850315K29"
    got = await call_ok(mcp, "get_client", {"id": created["id"]})
    assert got["legal_name"] == "LUCIA GOMEZ RUIZ"
    updated = await call_ok(mcp, "update_client", {"id": created["id"], "email": "lg@example.com"})
    assert updated["email"] == "lg@example.com"
    stored = sandbox.state.store.get("team_sandbox", "clients", created["id"])
    assert stored["email"] == "lg@example.com"


async def test_create_client_upsert_by_tax_id_does_not_duplicate(mcp, sandbox):
    args = {**NEW_CLIENT, "search": {"on_key": "tax_id", "on_value": NEW_CLIENT["tax_id"]}}
    first = await call_ok(mcp, "create_client", args)
    second = await call_ok(mcp, "create_client", args)
    assert first["id"] == second["id"]
    assert sandbox.state.store.count("team_sandbox", "clients") == 4


async def test_bad_rfc_is_refused_before_any_request(mcp, sandbox):
    before = len(sandbox.state.api_requests())
    text = await call_err(mcp, "create_client", {**NEW_CLIENT, "tax_id": "NOT-AN-RFC"})
    assert "tax_id" in text
    assert len(sandbox.state.api_requests()) == before


async def test_unknown_argument_is_an_error(mcp):
    text = await call_err(mcp, "create_client", {**NEW_CLIENT, "tax_idd": "X"})
    assert "tax_idd: unknown argument; this tool takes: " in text and "tax_id, " in text


async def test_argument_errors_say_what_is_allowed_not_a_regex(mcp, sandbox):
    """Refused by the SDK's own validation, before our guards: still one clear clause per field."""
    text = await call_err(
        mcp, "create_client", {**NEW_CLIENT, "tax_id": "bad", "tax_system": "999", "address": {"zip": "1"}}
    )
    assert text.count(";") >= 2 and "nothing was sent" in text
    assert "tax_id: 'bad' is not valid; expected an RFC: 12 characters" in text
    assert "tax_system: '999' is not valid; expected a régimen fiscal code: 601, 603," in text
    assert "address.zip: '1' is not valid; expected a 5-digit código postal" in text
    assert "pattern" not in text and "errors.pydantic.dev" not in text and "^" not in text
    p01 = await call_err(mcp, "create_client", {**NEW_CLIENT, "use": "P01"})
    assert "P01 (Por definir) does not exist in CFDI 4.0; use S01" in p01
    missing = await call_err(mcp, "get_client", {})
    assert "id: required" in missing
    wrong_type = await call_err(mcp, "list_clients", {"limit": "many"})
    assert "limit: Input should be a valid integer" in wrong_type and "(got 'many')" in wrong_type
    assert not sandbox.state.api_requests()


async def test_gigstack_error_is_a_tool_error_with_next_step(mcp):
    text = await call_err(mcp, "get_client", {"id": "client_missing"})
    assert "404" in text and "Client not found" in text and "list" in text


async def test_validate_fiscal_info_explains_issues(mcp):
    created = await call_ok(mcp, "create_client", {"name": "Sin datos", "email": "x@example.com"})
    result = await call_ok(mcp, "validate_client_fiscal_info", {"id": created["id"]})
    assert result["is_valid"] is False
    assert any("tax_id" in i for i in result["issues"]) and any("zip" in i for i in result["issues"])
    ok = await call_ok(mcp, "validate_client_fiscal_info", {"id": "client_juan_perez"})
    assert ok["is_valid"] is True and ok["issues"] == []


async def test_portal_token(mcp):
    result = await call_ok(mcp, "create_client_portal_token", {"email": "juan@example.com"})
    assert "client_juan_perez" in result["url"] and result["expires_at"] > 0
    assert "id or email" in await call_err(mcp, "create_client_portal_token", {})


@both_eras
async def test_delete_client_needs_confirmation(mcp, sandbox):
    first = await call_ok(mcp, "delete_client", {"id": "client_acme"})
    assert first["status"] == "confirmation_required" and "ACME" in first["preview"]
    assert sandbox.state.store.get("team_sandbox", "clients", "client_acme") is not None
    assert not sandbox.state.api_requests("DELETE")
    done = await call_ok(
        mcp, "delete_client", {"id": "client_acme", "confirmation_token": first["confirmation_token"]}
    )
    assert done["status"] == "done"
    assert sandbox.state.store.get("team_sandbox", "clients", "client_acme") is None


@both_eras
async def test_confirmation_token_cannot_be_retargeted(mcp, sandbox):
    first = await call_ok(mcp, "delete_client", {"id": "client_acme"})
    text = await call_err(
        mcp, "delete_client", {"id": "client_juan_perez", "confirmation_token": first["confirmation_token"]}
    )
    assert "Nothing was done" in text
    assert sandbox.state.store.get("team_sandbox", "clients", "client_juan_perez") is not None
    assert not sandbox.state.api_requests("DELETE")
