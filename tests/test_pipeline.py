"""The call path (registry/pipeline.py) through the real server and the sandbox: a destructive call
reads its target at most twice (once to ask, once to re-check before acting) in both protocol eras,
with elicitation and with a token; a guard refusal carries its rule IDs to the tool error."""

from __future__ import annotations

import re

import pytest
from mcp import Client, types

from gigstack_mcp.server import build_server

from .conftest import both_eras, call_ok, make_settings

pytestmark = pytest.mark.anyio
TEAM = "team_sandbox"


def _yes(ctx, params):
    async def answer():
        return types.ElicitResult(action="accept", content={"confirm": True})

    return answer()


def _target(sandbox, tool: str) -> tuple[dict, str]:
    """The arguments of a destructive call on a seeded object, and its id (which its paths contain)."""
    if tool == "cancel_invoice":
        inv = next(
            d for d in sandbox.state.store.find(TEAM, "invoices", lambda d: d.get("payment_method") == "PUE")
        )
        return {"uuid": inv["uuid"], "motive": "02"}, inv["uuid"]
    if tool == "delete_client":
        return {"id": "client_acme"}, "client_acme"
    return {"id": "payment_demo_transfer", "amount": 1000, "reason": "descuento"}, "payment_demo_transfer"


def _reads(sandbox, target: str) -> int:
    return len(sandbox.state.api_requests("GET", re.escape(target)))


TOOLS = ["cancel_invoice", "delete_client", "refund_payment"]
WRITES = {"cancel_invoice": "DELETE", "delete_client": "DELETE", "refund_payment": "POST"}


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_confirmed_by_elicitation_reads_target_at_most_twice(sandbox, tool, mode):
    args, target = _target(sandbox, tool)
    async with Client(build_server(make_settings(sandbox)), mode=mode, elicitation_callback=_yes) as c:
        done = await call_ok(c, tool, args)
    assert done["status"] == "done"
    assert len(sandbox.state.api_requests(WRITES[tool], re.escape(target))) == 1
    # one read to ask; one re-check after the answer (the user may have taken minutes)
    assert _reads(sandbox, target) == 2, sandbox.state.api_requests("GET")


@both_eras
@pytest.mark.parametrize("tool", TOOLS)
async def test_confirmed_by_token_reads_target_at_most_twice(mcp, sandbox, tool):
    args, target = _target(sandbox, tool)
    first = await call_ok(mcp, tool, args)
    assert first["status"] == "confirmation_required"
    assert _reads(sandbox, target) == 1  # one read for the preview and the guard rails together
    done = await call_ok(mcp, tool, args | {"confirmation_token": first["confirmation_token"]})
    assert done["status"] == "done"
    assert len(sandbox.state.api_requests(WRITES[tool], re.escape(target))) == 1
    assert _reads(sandbox, target) == 2  # one re-check before acting


@both_eras
async def test_guard_refusal_carries_rule_ids(mcp, sandbox):
    args, _ = _target(sandbox, "cancel_invoice")
    result = await mcp.call_tool("cancel_invoice", args | {"motive": "01"})
    assert result.is_error
    assert "CANCEL-01-UUID" in result.content[0].text and "Not sent to gigstack" in result.content[0].text
    (refused,) = [r for r in result.structured_content["refused"] if r["rule"] == "CANCEL-01-UUID"]
    assert refused["field"] and "allowed" in refused
    assert not sandbox.state.api_requests("DELETE")
