"""The invoice preview as `preview: true` on create_income_invoice / create_egress_invoice (issue 13):
through real MCP sessions in both eras and the sandbox's request log. A preview is a read on the one
call path: the policy's confirmation is not asked for it nor its caps counted (the stamping call that
follows is asked and counted as before), it sends no write, its audit record says `previewed`, and its
token is bound to the invoice type; preview null or false stamps as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client, types

from gigstack_mcp import audit, cli
from gigstack_mcp.registry import ConfigError
from gigstack_mcp.sandbox.examples import income_invoice, item
from gigstack_mcp.server import build_server
from gigstack_mcp.tools import select

from .conftest import call_err, call_ok, make_settings

pytestmark = pytest.mark.anyio
TEAM = "team_sandbox"


def writes(sandbox) -> list[dict]:
    """Every request to gigstack that is not a read."""
    return [r for r in sandbox.state.api_requests() if r["method"] != "GET"]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def policy_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def preview(args: dict) -> dict:
    return {**args, "preview": True}


CONFIRM_AND_CAP = (
    '[defaults]\ntools = { create_income_invoice = "confirm", "*" = "allow" }\n'
    "[defaults.caps]\nstamps_per_hour = 1\n"
)


async def test_a_preview_is_not_asked_about_nor_counted_the_stamp_is(sandbox, tmp_path, era):
    """A client that can ask its user: the preview answers at once, the stamping call asks."""
    asked: list[str] = []

    async def answer(ctx, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    settings = make_settings(sandbox, policy=policy_file(tmp_path, CONFIRM_AND_CAP), audit_log="off")
    async with Client(build_server(settings), mode=era, elicitation_callback=answer) as mcp:
        args = income_invoice(item(1000, 2))
        for _ in range(3):  # three previews under a cap of one stamp an hour
            shown = await call_ok(mcp, "create_income_invoice", preview(args))
            assert shown["total"] == 2320 and shown["preview_token"] and "status" not in shown
        assert asked == [] and writes(sandbox) == []
        done = await call_ok(mcp, "create_income_invoice", args | {"preview_token": shown["preview_token"]})
        assert done["status"] == "done" and done["result"]["total"] == 2320
        assert len(asked) == 1 and "2,320.00 MXN" in asked[0]
        again = await call_ok(mcp, "create_income_invoice", preview(args))  # the cap is full: still shown
        assert again["total"] == 2320 and len(asked) == 1
        text = await call_err(mcp, "create_income_invoice", args | {"preview_token": again["preview_token"]})
        assert "caps.stamps_per_hour" in text and "Not sent to gigstack" in text
    assert len(sandbox.state.api_requests("POST", "^/invoices/income$")) == 1


async def test_a_preview_needs_no_token_from_a_client_that_cannot_ask(sandbox, tmp_path, era):
    settings = make_settings(sandbox, policy=policy_file(tmp_path, CONFIRM_AND_CAP), audit_log="off")
    async with Client(build_server(settings), mode=era) as mcp:
        args = income_invoice(item(1000))
        shown = await call_ok(mcp, "create_income_invoice", preview(args))
        assert shown["total"] == 1160 and "confirmation_token" not in shown
        with_preview = args | {"preview_token": shown["preview_token"]}
        asked = await call_ok(mcp, "create_income_invoice", with_preview | {"preview": False})
        assert asked["status"] == "confirmation_required" and writes(sandbox) == []
        # preview false is "not given": the token it got confirms the call without it
        confirmed = with_preview | {"confirmation_token": asked["confirmation_token"]}
        assert (await call_ok(mcp, "create_income_invoice", confirmed))["status"] == "done"
    assert len(writes(sandbox)) == 1


async def test_a_denied_tool_refuses_its_preview_a_money_limit_only_the_stamp(sandbox, tmp_path):
    denied = make_settings(
        sandbox, policy=policy_file(tmp_path, '[defaults]\ntools = { create_income_invoice = "deny" }\n')
    )
    async with Client(build_server(denied)) as mcp:
        text = await call_err(mcp, "create_income_invoice", preview(income_invoice()))
    assert "tools.create_income_invoice" in text and "Not sent to gigstack" in text
    limit = tmp_path / "limit"
    limit.mkdir()
    limited = make_settings(
        sandbox, policy=policy_file(limit, "[defaults.money]\nmax_invoice_mxn = 1000\n"), audit_log="off"
    )
    async with Client(build_server(limited)) as mcp:
        shown = await call_ok(mcp, "create_income_invoice", preview(income_invoice(item(1000))))
        text = await call_err(
            mcp,
            "create_income_invoice",
            income_invoice(item(1000)) | {"preview_token": shown["preview_token"]},
        )
    assert "money.max_invoice_mxn" in text and "1,160.00 MXN" in text
    assert writes(sandbox) == []


async def test_a_preview_leaves_an_audit_record_that_says_so(sandbox, tmp_path, capsys):
    trail = tmp_path / "audit.jsonl"
    async with Client(build_server(make_settings(sandbox, audit_log=str(trail)))) as mcp:
        args = income_invoice(item(1000, 2))
        shown = await call_ok(mcp, "create_income_invoice", preview(args))
        await call_err(mcp, "create_income_invoice", preview(income_invoice(payment_form="99")))
        done = await call_ok(mcp, "create_income_invoice", args | {"preview_token": shown["preview_token"]})
    rows = records(trail)
    assert [(r["tool"], r["outcome"]) for r in rows] == [
        ("create_income_invoice", "previewed"),
        ("create_income_invoice", "refused"),
        ("create_income_invoice", "done"),
    ]
    previewed, refused, stamped = rows
    assert previewed["amount"] == {"kind": "invoice", "mxn": 2320.0, "currency": "MXN"}
    assert previewed["args"]["preview"] is True and "preview_token" not in json.dumps(previewed)
    assert "gigstack" not in previewed and "idempotency_key" not in previewed  # nothing was sent
    assert refused["args"]["preview"] is True and "PUE-FORMA-NOT-99" in refused["reason"]
    assert stamped["gigstack"]["uuid"] == done["uuid"] and "preview" not in stamped["args"]
    assert audit.verify([trail]) == (3, None)
    [day] = audit.summary([trail]).values()
    assert day["stamped"] == 1 and day["invoiced_mxn"] == 2320.0 and day["refused"] == 1
    with pytest.raises(SystemExit) as ended:  # `gigstack-mcp audit summary`
        cli.main(["audit", "summary", str(trail)])
    assert ended.value.code == 0
    line = capsys.readouterr().out.splitlines()[1].split()
    assert line[2:4] == ["1", "2,320.00"]  # stamped, invoiced MXN: the preview is neither


async def test_a_preview_sends_no_write(mcp, sandbox):
    income = next(iter(sandbox.state.store.find(TEAM, "invoices", lambda d: d.get("invoice_type") == "I")))
    by_id = income_invoice({"id": "service_consultoria", "quantity": 3})
    by_sku = income_invoice({"search": {"on_key": "sku", "on_value": "CONS-01"}, "quantity": 2})
    credit = income_invoice(
        item(100),
        use="G02",
        payment_form="15",
        related_documents=[{"relationship": "01", "documents": [income["uuid"]]}],
    )
    assert (await call_ok(mcp, "create_income_invoice", preview(by_id)))["subtotal"] == 3000
    assert (await call_ok(mcp, "create_income_invoice", preview(by_sku)))["subtotal"] == 2000
    assert (await call_ok(mcp, "create_egress_invoice", preview(credit)))["invoice_type"] == "E"
    assert sandbox.state.api_requests("GET")  # it read the services and the receiver
    assert writes(sandbox) == []


async def test_an_income_preview_token_does_not_stamp_a_credit_note(mcp, sandbox):
    args = income_invoice(item(500), use="G02")
    token = (await call_ok(mcp, "create_income_invoice", preview(args)))["preview_token"]
    text = await call_err(mcp, "create_egress_invoice", args | {"preview_token": token})
    assert "preview_token does not match" in text and "create_egress_invoice" in text
    assert writes(sandbox) == []


@pytest.mark.parametrize("flag", [None, False])
async def test_preview_null_or_false_stamps_as_before(mcp, sandbox, flag):
    done = await call_ok(mcp, "create_income_invoice", income_invoice(item(1000)) | {"preview": flag})
    assert done["uuid"] and done["total"] == 1160
    [sent] = sandbox.state.api_requests("POST", "^/invoices/income$")
    assert "preview" not in sent["body"] and "preview_token" not in sent["body"]  # ours, never sent


async def test_require_preview_still_refuses_a_create_with_preview_false(sandbox):
    async with Client(build_server(make_settings(sandbox, require_preview=True))) as mcp:
        text = await call_err(mcp, "create_income_invoice", income_invoice() | {"preview": False})
        assert "requires a preview" in text and "preview true" in text
        shown = await call_ok(mcp, "create_income_invoice", preview(income_invoice()))
        token = {"preview_token": shown["preview_token"]}
        done = await call_ok(mcp, "create_income_invoice", income_invoice() | {"preview": False} | token)
    assert done["total"] == 1160 and len(writes(sandbox)) == 1


@pytest.mark.parametrize("how", [{"tools": "preview_invoice"}, {"exclude_tools": "preview_invoice"}])
def test_a_configuration_naming_preview_invoice_is_told_where_it_went(how):
    with pytest.raises(ConfigError) as err:
        select(**how)
    text = str(err.value)
    assert "unknown tool 'preview_invoice' (now create_income_invoice" in text and "preview: true" in text
