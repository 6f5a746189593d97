"""Every refusal outside the CFDI table carries its rule ID (issue 16, "rule IDs reach every guard
refusal"): through a real MCP session, each path of `guards.refusal.REFUSALS` and the policy's refusals
answer with a tool error whose text shows `[RULE]` (the policy: its rule key) and whose structured
content lists the same rule, as the CFDI rules do; nothing is written to gigstack. The walk must cover
every ID of the table, and docs/reliability.md must list exactly those IDs."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from gigstack_mcp.guards.refusal import REFUSALS
from gigstack_mcp.sandbox.examples import income_invoice, item
from gigstack_mcp.server import build_server

from .conftest import both_eras, call_ok, make_settings, one_era

pytestmark = pytest.mark.anyio

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"

REGISTER = {"client": {"id": "client_juan_perez"}, "items": [item()], "payment_form": "03"}
VENTA = {
    "description": "Venta",
    "quantity": 1,
    "unit_price": 100,
    "product_key": "01010101",
    "unit_key": "ACT",
    "taxes": [{"type": "IVA", "rate": 0.16}],
}


def writes(sandbox) -> int:
    return sum(1 for r in sandbox.state.api_requests() if r["method"] != "GET")


async def refused(mcp: Client, sandbox, tool: str, args: dict[str, Any], rule: str) -> dict[str, Any]:
    """Call `tool`: a tool error naming `rule` in its text and in its structured content, nothing
    written. Returns the structured refusal."""
    before = writes(sandbox)
    result = await mcp.call_tool(tool, args)
    text = result.content[0].text
    assert result.is_error, text
    shown = f"[{rule}]" if rule in REFUSALS else f"policy rule {rule}"
    assert shown in text and "Not sent to gigstack" in text, text
    assert result.structured_content is not None, text
    [entry] = result.structured_content["refused"]
    assert entry["rule"] == rule, entry
    assert writes(sandbox) == before
    return entry


@one_era
async def test_argument_and_state_refusals_name_their_rule(mcp, sandbox):
    for tool, args in [
        ("update_client", {"id": "client_acme"}),
        ("update_service", {"id": "service_consultoria"}),
        ("update_team", {"id": "team_sandbox"}),
        ("update_user", {"id": "user_accountant"}),
    ]:
        await refused(mcp, sandbox, tool, args, "ARGS-NO-CHANGE")
    await refused(mcp, sandbox, "create_client_portal_token", {}, "ARGS-CLIENT-ID-OR-EMAIL")
    entry = await refused(
        mcp, sandbox, "create_user", {"email": "x@example.com", "role": "admin"}, "ARGS-ROLE-AUTO-JOIN"
    )
    assert (entry["field"], entry["value"]) == ("role", "admin")

    await refused(mcp, sandbox, "lookup_catalog", {}, "CATALOG-QUERY")
    entry = await refused(
        mcp, sandbox, "lookup_catalog", {"catalog": "uso-cfdi", "code": "P01"}, "CATALOG-CODE"
    )
    assert entry["value"] == "P01"
    await refused(
        mcp, sandbox, "lookup_catalog", {"regimen": "601", "catalog": "forma-pago"}, "CATALOG-REGIMEN"
    )
    await refused(
        mcp, sandbox, "lookup_catalog", {"catalog": "uso-cfdi", "query": "zzqx wvkj"}, "CATALOG-NO-MATCH"
    )

    await refused(mcp, sandbox, "register_payment", REGISTER | {"payment_form": "99"}, "PAID-FORMA-99")
    pending = await call_ok(
        mcp, "request_payment", {"client": {"id": "client_juan_perez"}, "items": [item()]}
    )
    await refused(
        mcp, sandbox, "mark_payment_paid", {"id": pending["id"], "payment_form": "99"}, "PAID-FORMA-99"
    )
    await refused(mcp, sandbox, "create_receipt", {"items": [VENTA], "payment_form": "99"}, "PAID-FORMA-99")
    entry = await refused(
        mcp, sandbox, "register_payment", REGISTER | {"paid_on": "2026-06-01"}, "PAID-ON-FUTURE"
    )
    assert entry["value"] == "2026-06-01" and "2026-05-14" in entry["allowed"]  # the frozen clock's today
    await refused(mcp, sandbox, "register_payment", REGISTER | {"invoices": ["X"]}, "PAYMENT-NO-INVOICES")

    sale = await call_ok(mcp, "create_receipt", {"items": [VENTA], "payment_form": "01"})
    await refused(
        mcp,
        sandbox,
        "stamp_receipt",
        {
            "id": sale["id"],
            "stamp_to": "general_public_national",
            "fiscal_information": {
                "legal_name": "X",
                "tax_id": "GORL850315K29",
                "tax_system": "612",
                "zip": "06700",
            },
        },
        "RECEIPT-FISCAL-INFO",
    )
    await refused(
        mcp, sandbox, "stamp_receipt", {"id": sale["id"], "stamp_to": "client"}, "RECEIPT-NO-CLIENT"
    )
    global_invoice = {
        "client": {"id": "client_publico_general"},
        "items": [{**VENTA, "sku": sale["id"]}],
        "use": "S01",
        "payment_form": "01",
        "global": {"periodicity": "04", "months": "05", "year": 2026},
    }
    await refused(mcp, sandbox, "create_income_invoice", global_invoice, "RECEIPT-TWICE")

    no_description = income_invoice(item(description=None)) | {"preview": True}
    no_description["items"][0].pop("description")
    await refused(mcp, sandbox, "create_income_invoice", no_description, "ITEM-DESCRIPTION")
    no_price = income_invoice() | {"preview": True}
    no_price["items"][0].pop("unit_price")
    await refused(mcp, sandbox, "create_income_invoice", no_price, "ITEM-AMOUNTS")
    unknown_sku = income_invoice() | {"preview": True}
    unknown_sku["items"][0] = {"search": {"on_key": "sku", "on_value": "NO-SUCH-SKU"}, "quantity": 1}
    entry = await refused(mcp, sandbox, "create_income_invoice", unknown_sku, "ITEM-SKU-NOT-FOUND")
    assert entry["value"] == "NO-SUCH-SKU"
    entry = await refused(
        mcp,
        sandbox,
        "create_income_invoice",
        income_invoice() | {"preview_token": "garbage"},
        "PREVIEW-TOKEN",
    )
    assert entry["field"] == "preview_token"


@one_era
async def test_a_required_preview_names_its_rule(sandbox):
    async with Client(build_server(make_settings(sandbox, require_preview=True)), mode="legacy") as mcp:
        await refused(mcp, sandbox, "create_income_invoice", income_invoice(), "PREVIEW-REQUIRED")


@both_eras
async def test_refusals_of_destructive_tools_name_their_rule(mcp, sandbox):
    pending = await call_ok(
        mcp, "request_payment", {"client": {"id": "client_juan_perez"}, "items": [item()]}
    )
    entry = await refused(
        mcp, sandbox, "refund_payment", {"id": pending["id"], "amount": 1}, "REFUND-NOT-COLLECTED"
    )
    assert entry["allowed"] == "succeeded"
    paid = {"id": "payment_demo_transfer"}
    entry = await refused(mcp, sandbox, "refund_payment", paid | {"amount": 10_000_000}, "REFUND-OVER-LEFT")
    assert entry["value"] == 10_000_000
    await refused(
        mcp,
        sandbox,
        "refund_payment",
        paid | {"amount": 1, "external_processor_refund": True},
        "REFUND-EXTERNAL",
    )
    await refused(mcp, sandbox, "cancel_payment", paid, "PAYMENT-CANCEL-STATUS")
    await refused(
        mcp,
        sandbox,
        "remove_team_member",
        {"id": "team_sandbox", "user_id": "user_nobody"},
        "TEAM-NOT-MEMBER",
    )
    sale = await call_ok(mcp, "create_receipt", {"items": [VENTA], "payment_form": "01"})
    await call_ok(mcp, "stamp_receipt", {"id": sale["id"], "stamp_to": "general_public_national"})
    await refused(mcp, sandbox, "cancel_receipt", {"id": sale["id"]}, "RECEIPT-INVOICED")

    args = {"id": "client_acme", "confirmation_token": "not-a-token"}
    await refused(mcp, sandbox, "delete_client", args, "CONFIRM-TOKEN")
    token = (await call_ok(mcp, "refund_payment", paid | {"amount": 1}))["confirmation_token"]
    assert (await call_ok(mcp, "refund_payment", paid | {"amount": 1, "confirmation_token": token}))[
        "status"
    ] == "done"
    await refused(
        mcp, sandbox, "refund_payment", paid | {"amount": 1, "confirmation_token": token}, "CONFIRM-USED"
    )


@one_era
async def test_an_unreachable_confirmation_record_names_its_rule(sandbox):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    async with Client(build_server(make_settings(sandbox, mcp_redis_url=dead)), mode="legacy") as mcp:
        token = (await call_ok(mcp, "delete_client", {"id": "client_acme"}))["confirmation_token"]
        args = {"id": "client_acme", "confirmation_token": token}
        await refused(mcp, sandbox, "delete_client", args, "CONFIRM-STORE")


@one_era
async def test_a_team_outside_the_callers_token_names_its_rule(sandbox):
    """Over HTTP (team boundaries come with MCP tokens): a named team and an account-wide resource."""
    from .test_http import connect
    from .test_tenants import PINNED, serve, tenant_tokens

    with serve(sandbox, tenant_tokens()) as srv:
        async with connect(srv.url, PINNED, "legacy") as mcp:
            args = {"id": "client_acme", "team": "team_other"}
            entry = await refused(mcp, sandbox, "get_client", args, "TEAM-NOT-ALLOWED")
            assert (entry["value"], entry["allowed"]) == ("team_other", "'team_sandbox'")
            await refused(mcp, sandbox, "list_teams", {}, "TEAM-NOT-ALLOWED")
    assert not sandbox.state.api_requests()


@one_era
async def test_policy_refusals_carry_their_rule_amount_and_limit(sandbox, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults.money]\nmax_invoice_mxn = 1000\n", encoding="utf-8")
    async with Client(build_server(make_settings(sandbox, policy=str(policy), audit_log="off"))) as mcp:
        entry = await refused(
            mcp, sandbox, "create_income_invoice", income_invoice(), "money.max_invoice_mxn"
        )
    assert entry == {
        "rule": "money.max_invoice_mxn",
        "field": "amount_mxn",
        "value": 1160.0,
        "allowed": "at most 1,000.00",
    }


def test_every_refusal_id_is_walked_and_documented():
    """Each ID of the table is the expected rule of a `refused(...)` call above (read from this file,
    so the check holds however the tests are distributed), but CONFIRM-STATE: a 2026-07-28 answer
    arriving without its sealed question, which a session cannot produce (the SDK seals every question
    it sends). The docs table is the code's table."""
    walked = set(
        re.findall(r'"([A-Z0-9]+(?:-[A-Z0-9]+)+)",?\s*\)', Path(__file__).read_text(encoding="utf-8"))
    )
    assert set(REFUSALS) - walked == {"CONFIRM-STATE"}
    assert walked <= set(REFUSALS)
    section = (
        DOCS.read_text(encoding="utf-8").split("## Refusals outside the CFDI table")[1].split("\n## ")[0]
    )
    documented = re.findall(r"^\| ([A-Z0-9-]+) \| ", section, flags=re.M)
    assert documented == list(REFUSALS)
