"""The typed tool contract through the real server and the sandbox (issue 13): `null` is "not given" for
every optional argument at every depth (what strict-mode clients send), unknown keys are refused at
every depth naming the keys of that object, updates never send an empty object, and free-form maps
travel as "key=value" strings but reach gigstack as its plain object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gigstack_mcp.cli import main
from gigstack_mcp.sandbox.examples import ACME, income_invoice, item

from .conftest import call_err, call_ok, call_refused
from .test_provider_schemas import TOOLS, _optional

UUID = "00000000-0000-4000-8000-000000000000"
# The required arguments of every tool that has any (ids of seeded objects where one exists; an id
# that does not exist is fine: gigstack's 404 is not an argument error).
REQUIRED: dict[str, dict[str, Any]] = {
    "get_client": {"id": ACME},
    "get_client_statement": {"client_id": ACME},
    "update_client": {"id": ACME},
    "delete_client": {"id": ACME},
    "validate_client_fiscal_info": {"id": ACME},
    "stamp_client_pending_receipts": {"id": ACME},
    "get_service": {"id": "service_hosting"},
    "create_service": {"description": "Hosting", "unit_price": 10},
    "update_service": {"id": "service_hosting"},
    "delete_service": {"id": "service_hosting"},
    "get_income_invoice": {"uuid": UUID},
    "get_payment_complement": {"uuid": UUID},
    "create_income_invoice": {"client": {"id": ACME}, "items": [item()]},
    "get_egress_invoice": {"uuid": UUID},
    "create_egress_invoice": {"client": {"id": ACME}, "items": [item()]},
    "get_invoice_files": {"uuid": UUID},
    "cancel_invoice": {"uuid": UUID, "motive": "02"},
    "get_payment": {"id": "payment_x"},
    "request_payment": {"client": {"id": ACME}, "items": [item()]},
    "register_payment": {"client": {"id": ACME}, "items": [item()], "payment_form": "03"},
    "mark_payment_paid": {"id": "payment_x", "payment_form": "03"},
    "refund_payment": {"id": "payment_x", "amount": 1},
    "cancel_payment": {"id": "payment_x"},
    "get_receipt": {"id": "receipt_x"},
    "create_receipt": {"items": [item()]},
    "stamp_receipt": {"id": "receipt_x", "stamp_to": "general_public_national"},
    "cancel_receipt": {"id": "receipt_x"},
    "get_team": {"id": "team_sandbox"},
    "get_team_series": {"id": "team_sandbox"},
    "get_team_onboarding_url": {"id": "team_sandbox"},
    "create_team": {"brand": {"alias": "Sucursal"}},
    "update_team": {"id": "team_sandbox"},
    "update_team_series": {"id": "team_sandbox", "series_id": "series_A"},
    "update_team_settings": {"id": "team_sandbox", "settings": {"use": "G03"}},
    "create_team_series": {"id": "team_sandbox", "series": "Z"},
    "add_team_member": {"id": "team_sandbox", "user_id": "user_x"},
    "remove_team_member": {"id": "team_sandbox", "user_id": "user_x"},
    "get_user": {"id": "user_x"},
    "create_user": {"email": "nueva@example.com"},
    "update_user": {"id": "user_x"},
    "reset_user_password": {"email": "nueva@example.com"},
}
REFUSED = "Invalid arguments"


def _all_nulls(args: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`args` plus null for every optional top-level argument not given (what OpenAI strict mode sends)."""
    required = set(schema.get("required", []))
    return {**{name: None for name in schema["properties"] if name not in required}, **args}


def _sent(sandbox, start: int, end: int | None = None) -> list[tuple[str, str, Any]]:
    """The writes sent between two points, without generated idempotency keys (reads may be cached)."""
    out = []
    for r in sandbox.state.api_requests()[start:end]:
        body = r.get("body")
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "idempotency_key"}
        if r["method"] != "GET":
            out.append((r["method"], r["path"], body))
    return out


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(TOOLS))
async def test_null_is_not_given_for_every_optional_argument(mcp, sandbox, name):
    """The same call with null for every optional argument sends exactly the same writes."""
    schema = TOOLS[name].input_schema
    assert set(REQUIRED.get(name, {})) == set(schema.get("required", [])), "REQUIRED is stale"
    base = REQUIRED.get(name, {})
    start = len(sandbox.state.api_requests())
    plain = await mcp.call_tool(name, base)
    middle = len(sandbox.state.api_requests())
    nulls = await mcp.call_tool(name, _all_nulls(base, schema))
    assert REFUSED not in plain.content[0].text, plain.content[0].text
    assert REFUSED not in nulls.content[0].text, nulls.content[0].text
    assert _sent(sandbox, middle) == _sent(sandbox, start, middle)


def _strict_fill(args: Any, schema: dict[str, Any]) -> Any:
    """`args` as a strict-mode client fills them: every optional property at every depth, null."""
    if isinstance(args, list):
        return [_strict_fill(a, schema.get("items", {})) for a in args]
    if not isinstance(args, dict):
        return args
    branch = next((b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"), schema)
    props = branch.get("properties", {})
    filled = {name: None for name in props if name not in branch.get("required", [])}
    return filled | {k: _strict_fill(v, props.get(k, {})) for k, v in args.items()}


@pytest.mark.anyio
async def test_a_strict_filled_invoice_sends_the_same_body(mcp, sandbox):
    args = income_invoice(client={"id": ACME, "address": {"zip": "01000"}}, idempotency_key="strict-a1")
    filled = _strict_fill(args, TOOLS["create_income_invoice"].input_schema)
    assert filled["items"][0]["discount"] is None and filled["client"]["search"] is None
    assert filled["items"][0]["taxes"][0]["withholding"] is None
    await call_ok(mcp, "create_income_invoice", args)
    await call_ok(mcp, "create_income_invoice", filled | {"idempotency_key": "strict-b2"})
    plain, strict = [r["body"] for r in sandbox.state.api_requests("POST", r"^/invoices/income$")]
    assert {k: v for k, v in strict.items() if k != "idempotency_key"} == {
        k: v for k, v in plain.items() if k != "idempotency_key"
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name, args, where, keys",
    [
        (
            "update_client",
            {"id": ACME, "address": {"cp": "01000"}},
            "address.cp",
            "address takes: zip, street",
        ),
        (
            "create_income_invoice",
            income_invoice(client={"id": ACME, "search": {"on_key": "email", "on_value": "a@b.mx", "x": 1}}),
            "client.search.x",
            "client.search takes: on_key, on_value",
        ),
        (
            "create_income_invoice",
            income_invoice(item(taxes=[{"type": "IVA", "rate": 0.16, "tasa": 1}])),
            "items.0.taxes.0.tasa",
            "items.0.taxes.0 takes: type, rate, factor, withholding, inclusive",
        ),
        (
            "update_team_settings",
            {"id": "team_sandbox", "settings": {"default_series": {"ingreso": {"serie": "B"}}}},
            "settings.default_series.ingreso",
            "settings.default_series takes: income, credit_note, complements",
        ),
    ],
)
async def test_unknown_keys_are_refused_at_every_depth_with_that_objects_keys(
    mcp, sandbox, name, args, where, keys
):
    await call_refused(mcp, sandbox, name, args, f"{where}: unknown key", keys)


@pytest.mark.anyio
async def test_an_update_never_sends_an_empty_object(mcp, sandbox):
    """address {"zip": null} is nothing to change: no `address: {}` that would wipe the stored one."""
    before = await call_ok(mcp, "get_client", {"id": ACME})
    await call_ok(mcp, "update_client", {"id": ACME, "phone": "5555555555", "address": {"zip": None}})
    (put,) = sandbox.state.api_requests("PUT", rf"^/clients/{ACME}$")
    assert put["body"] == {"phone": "5555555555"}
    after = await call_ok(mcp, "get_client", {"id": ACME})
    assert after["address"]["zip"] == before["address"]["zip"]
    text = await call_err(mcp, "update_client", {"id": ACME, "address": {"zip": None}})
    assert "give at least one field" in text


@pytest.mark.anyio
async def test_metadata_pairs_reach_gigstack_as_its_object(mcp, sandbox):
    await call_ok(mcp, "update_client", {"id": ACME, "metadata": ["order=A-17", "note=a=b"]})
    await call_ok(mcp, "update_client", {"id": ACME, "metadata": {"order": "A-18"}})  # gigstack's own form
    first, second = sandbox.state.api_requests("PUT", rf"^/clients/{ACME}$")
    assert first["body"] == {"metadata": {"order": "A-17", "note": "a=b"}}
    assert second["body"] == {"metadata": {"order": "A-18"}}
    for bad in (["no-equals-sign"], {"n": 5}):
        text = await call_err(mcp, "update_client", {"id": ACME, "metadata": bad})
        assert "metadata.0" in text, text
    assert len(sandbox.state.api_requests("PUT", rf"^/clients/{ACME}$")) == 2


def test_optional_walk_sees_nested_properties():
    """The helper the strict-fill test relies on reaches nested optionals (a guard on the test itself)."""
    nested = {(w, n) for w, n, _ in _optional(TOOLS["create_income_invoice"].input_schema)}
    assert (".items[]", "discount") in nested and (".client", "search") in nested


def test_tools_command_prints_before_and_after(tmp_path, capsys):
    """`gigstack-mcp tools --before FILE` (a `tools --json` saved earlier) shows each tool's change."""
    main(["tools", "--toolsets", "clients", "--json"])
    rows = json.loads(capsys.readouterr().out)
    rows[0]["chars"] -= 100
    saved = tmp_path / "before.json"
    saved.write_text(json.dumps(rows[1:] + rows[:1]))
    main(["tools", "--toolsets", "clients", "--before", str(saved)])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(rows[0]["name"]) and out[0].endswith(f"(before {rows[0]['chars']:>6}, +100)")
    assert out[1].endswith(", +0)")
    assert out[-1].endswith(f"(before: {len(rows)} tools, {sum(r['chars'] for r in rows)} chars)")
