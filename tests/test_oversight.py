"""Spend policy and audit trail through the real server: limits at their boundary, caps shared by two
real HTTP replica processes through a real Redis, live keys, hot reload on SIGHUP without dropping the
session, and the audit trail each call leaves (chained, redacted, with gigstack's ids)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters, stdio_client, types

from gigstack_mcp import audit
from gigstack_mcp.sandbox.examples import income_invoice, item, new_client
from gigstack_mcp.sandbox.server import SandboxServer
from gigstack_mcp.server import build_server

from .conftest import API_KEY, call_err, call_ok, http_replica, make_settings
from .test_http import TOKEN_SERVER, connect

pytestmark = pytest.mark.anyio

LIVE_KEY = "sk_live_fixture_key_9c2e71"


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def session(sandbox: SandboxServer, **overrides) -> Client:
    """A server with these settings and an in-memory MCP session to it (the 2026-07-28 era)."""
    return Client(build_server(make_settings(sandbox, **overrides)))


async def test_writes_and_refusals_leave_a_chained_redacted_trail(sandbox, tmp_path):
    trail = tmp_path / "audit.jsonl"
    async with session(sandbox, audit_log=str(trail)) as mcp:
        client = await call_ok(mcp, "create_client", new_client())
        invoice = await call_ok(mcp, "create_income_invoice", income_invoice(item(1000, 2)))
        refused = await call_err(mcp, "create_income_invoice", income_invoice(payment_form="99"))
        await call_err(mcp, "create_client", new_client(use="P01"))  # refused by argument validation
        await call_ok(mcp, "list_clients", {"limit": 1})  # reads leave no record
    rows = records(trail)
    assert [(r["tool"], r["outcome"]) for r in rows] == [
        ("create_client", "done"),
        ("create_income_invoice", "done"),
        ("create_income_invoice", "refused"),
        ("create_client", "refused"),
    ]
    assert rows[0]["gigstack"]["id"] == client["id"] and rows[0]["principal"] == "local"
    assert rows[1]["gigstack"]["uuid"] == invoice["uuid"]
    assert rows[1]["amount"] == {"kind": "invoice", "mxn": 2320.0, "currency": "MXN"}
    sent = sandbox.state.api_requests("POST", "/invoices/income")[0]
    assert rows[1]["idempotency_key"] == sent["idempotency_key"]  # the key the client sent
    assert "idempotency_key" not in rows[2]  # refused: nothing was sent
    assert "PUE-FORMA-NOT-99" in rows[2]["reason"] and "PUE-FORMA-NOT-99" in refused
    assert "P01" in rows[3]["reason"]
    assert audit.verify([trail]) == (4, None)
    text = trail.read_text(encoding="utf-8")
    for secret in ("GORL850315K29", "lucia@example.com", "LUCIA GOMEZ", API_KEY):
        assert secret not in text


async def test_a_payment_limit_holds_exactly_at_its_boundary(sandbox, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults.money]\nmax_payment_mxn = 1160\n", encoding="utf-8")
    async with session(sandbox, policy=str(policy), audit_log="off") as mcp:
        ok = {"client": {"id": "client_acme"}, "items": [item(1000)]}  # 1,000 + 16% IVA = 1,160.00
        assert (await call_ok(mcp, "request_payment", ok))["total"] == 1160.0
        over = {"client": {"id": "client_acme"}, "items": [item(1000.01)]}  # 1,160.01
        before = len(sandbox.state.api_requests("POST", "/payments"))
        text = await call_err(mcp, "request_payment", over)
        assert len(sandbox.state.api_requests("POST", "/payments")) == before == 1
    assert "money.max_payment_mxn" in text and "1,160.01 MXN" in text and "1,160.00 MXN" in text
    assert "Not sent to gigstack" in text and "split" in text and "divídelo" in text


async def test_a_denied_tool_is_refused_before_anything_is_asked_or_sent(sandbox, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults]\ntools = { cancel_invoice = "deny", "*" = "allow" }\n', encoding="utf-8")
    async with session(sandbox, policy=str(policy), audit_log="off") as mcp:
        invoice = await call_ok(mcp, "create_income_invoice", income_invoice())
        before = len(sandbox.state.api_requests())
        text = await call_err(mcp, "cancel_invoice", {"uuid": invoice["uuid"], "motive": "02"})
        assert len(sandbox.state.api_requests()) == before
    assert "tools.cancel_invoice" in text and "administrator" in text


@pytest.fixture
def live_sandbox() -> Iterator[SandboxServer]:
    """The sandbox answering a key shaped like a live one (gigstack's rule: not sk_test…, not a test JWT)."""
    with SandboxServer(LIVE_KEY) as sb:
        yield sb


async def test_a_live_key_reads_but_does_not_write_unless_allowed(live_sandbox):
    async with session(live_sandbox, api_key=LIVE_KEY, audit_log="off") as mcp:
        assert (await call_ok(mcp, "list_clients", {"limit": 1}))["data"]
        text = await call_err(mcp, "create_client", new_client())
        assert "live_writes" in text and "--allow-live-writes" in text
        assert not live_sandbox.state.api_requests("POST")
    async with session(live_sandbox, api_key=LIVE_KEY, audit_log="off", allow_live_writes=True) as mcp:
        assert (await call_ok(mcp, "create_client", new_client()))["id"]


async def test_counter_store_down_fails_closed_for_writes_and_open_for_reads(sandbox, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults.caps]\nstamps_per_day = 100\n", encoding="utf-8")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    async with session(sandbox, policy=str(policy), mcp_redis_url=dead, audit_log="off") as mcp:
        assert (await call_ok(mcp, "list_clients", {"limit": 1}))["data"]
        text = await call_err(mcp, "create_income_invoice", income_invoice())
    assert "caps.store" in text and not sandbox.state.api_requests("POST")


# -- two real replicas, one Redis ----------------------------------------------------------------------


@contextmanager
def replica(sandbox: SandboxServer, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A replica process with the server's own token and these settings."""
    with http_replica(
        sandbox, GIGSTACK_CONFIRM_SECRET="replicas-secret", GIGSTACK_MCP_AUTH_TOKENS=TOKEN_SERVER, **env
    ) as running:
        yield running


async def test_caps_are_shared_by_two_replicas_through_redis(sandbox, redis_url, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults.caps]\nstamps_per_day = 2\n", encoding="utf-8")
    common = {"GIGSTACK_POLICY": str(policy), "GIGSTACK_MCP_REDIS_URL": redis_url}
    trail_one, trail_two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    with (
        replica(sandbox, **common, GIGSTACK_AUDIT_LOG=str(trail_one)) as (one, _),
        replica(sandbox, **common, GIGSTACK_AUDIT_LOG=str(trail_two)) as (two, _),
    ):
        async with connect(one, TOKEN_SERVER) as c1, connect(two, TOKEN_SERVER) as c2:
            await call_ok(c1, "create_income_invoice", income_invoice())
            await call_ok(c2, "create_income_invoice", income_invoice())
            text = await call_err(c1, "create_income_invoice", income_invoice())
            assert "caps.stamps_per_day" in await call_err(c2, "create_income_invoice", income_invoice())
    assert "2 stamps per day" in text and "tope" in text
    assert len(sandbox.state.api_requests("POST", "/invoices/income")) == 2
    one_rows, two_rows = records(trail_one), records(trail_two)
    assert [r["outcome"] for r in one_rows] == ["done", "refused"] and one_rows[1][
        "rule"
    ] == "caps.stamps_per_day"
    assert [r["outcome"] for r in two_rows] == ["done", "refused"]
    assert all(r["principal"].startswith("tok_") for r in one_rows + two_rows)
    assert TOKEN_SERVER not in trail_one.read_text() + trail_two.read_text()
    assert audit.verify([trail_one]) == (2, None) and audit.verify([trail_two]) == (2, None)


async def test_sighup_reloads_the_policy_without_dropping_the_session(sandbox, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults]\ntools = { "*" = "allow" }\n', encoding="utf-8")
    with replica(sandbox, GIGSTACK_POLICY=str(policy), GIGSTACK_AUDIT_LOG="off") as (base, proc):
        async with connect(base, TOKEN_SERVER, "legacy") as mcp:  # a session the server keeps
            await call_ok(mcp, "create_client", new_client())
            policy.write_text('[defaults]\ntools = { create_client = "deny" }\n', encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while True:  # the signal is handled between two requests: ask until it has been
                result = await mcp.call_tool(
                    "create_client", new_client(tax_id="EKU9003173C9", tax_system="601")
                )
                if result.is_error:
                    break
                assert time.monotonic() < deadline, "the policy was not reloaded"
            assert "tools.create_client" in result.content[0].text
            assert (await call_ok(mcp, "list_clients", {"limit": 1}))["data"]


def test_a_bad_policy_stops_start_up_naming_the_line(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults]\n\n[defaults.money]\nmax_refund_mxn = "lots"\n', encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "gigstack_mcp", "--policy", str(policy)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 2
    assert "line 4" in run.stderr and "defaults.money.max_refund_mxn" in run.stderr


@pytest.fixture(params=["auto", "legacy"])
def mode(request) -> str:
    return request.param


CONFIRM_ABOVE = "[defaults.money]\nconfirm_above_mxn = 1160\n"


async def test_confirm_above_puts_a_money_write_behind_a_token(sandbox, tmp_path, mode):
    """A client that cannot ask its user: the write answers with a preview and a single-use token."""
    policy = tmp_path / "policy.toml"
    policy.write_text(CONFIRM_ABOVE, encoding="utf-8")
    async with Client(
        build_server(make_settings(sandbox, policy=str(policy), audit_log="off")), mode=mode
    ) as mcp:
        done = await call_ok(
            mcp, "create_income_invoice", income_invoice(item(1000))
        )  # 1,160.00: at the line
        assert done["uuid"]
        args = income_invoice(item(1000.01))  # 1,160.01: above it
        asked = await call_ok(mcp, "create_income_invoice", args)
        assert asked["status"] == "confirmation_required" and "1,160.01 MXN" in asked["preview"]
        assert len(sandbox.state.api_requests("POST", "/invoices/income")) == 1
        stamped = await call_ok(
            mcp, "create_income_invoice", args | {"confirmation_token": asked["confirmation_token"]}
        )
        assert stamped["status"] == "done" and stamped["result"]["uuid"]
        again = await call_err(
            mcp, "create_income_invoice", args | {"confirmation_token": asked["confirmation_token"]}
        )
        assert "already used" in again
        forged = await call_err(
            mcp,
            "create_income_invoice",
            income_invoice(item(5000)) | {"confirmation_token": asked["confirmation_token"]},
        )
        assert "Nothing was done" in forged  # a token for one amount never stamps another
    assert len(sandbox.state.api_requests("POST", "/invoices/income")) == 2


@pytest.mark.parametrize(("action", "stamped"), [("accept", 1), ("decline", 0)])
async def test_confirm_above_asks_a_client_that_can_ask(sandbox, tmp_path, mode, action, stamped):
    policy = tmp_path / "policy.toml"
    policy.write_text(CONFIRM_ABOVE, encoding="utf-8")
    seen: list[str] = []

    async def answer(ctx, params):
        seen.append(params.message)
        return types.ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)

    server = build_server(make_settings(sandbox, policy=str(policy), audit_log="off"))
    async with Client(server, mode=mode, elicitation_callback=answer) as mcp:
        small = await call_ok(mcp, "create_income_invoice", income_invoice(item(10)))
        assert small["uuid"] and not seen  # under the line: nobody is asked
        result = await call_ok(mcp, "create_income_invoice", income_invoice(item(2000)))
    assert len(seen) == 1 and "2,320.00 MXN" in seen[0] and "cannot be undone" not in seen[0]
    assert result["status"] == ("done" if stamped else "declined")
    assert len(sandbox.state.api_requests("POST", "/invoices/income")) == 1 + stamped


async def test_a_policy_refusal_comes_before_asking_anyone(sandbox, tmp_path, mode):
    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults]\ntools = { delete_client = "deny" }\n', encoding="utf-8")
    seen: list[str] = []

    async def answer(ctx, params):
        seen.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    server = build_server(make_settings(sandbox, policy=str(policy), audit_log="off"))
    async with Client(server, mode=mode, elicitation_callback=answer) as mcp:
        text = await call_err(mcp, "delete_client", {"id": "client_acme"})
    assert "tools.delete_client" in text and not seen and not sandbox.state.api_requests("DELETE")


async def test_confirm_on_a_write_without_a_confirmation_step_refuses(sandbox, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults]\ntools = { create_client = "confirm" }\n', encoding="utf-8")
    async with session(sandbox, policy=str(policy), audit_log="off") as mcp:
        text = await call_err(mcp, "create_client", new_client())
    assert "no confirmation step" in text and not sandbox.state.api_requests("POST")


async def test_policy_and_audit_over_stdio(tmp_path):
    """The real stdio process (embedded sandbox, no key) with a policy and an audit file: a payment over
    the limit is refused before it is sent, one within it goes through, and the trail verifies."""
    policy, trail = tmp_path / "policy.toml", tmp_path / "audit.jsonl"
    policy.write_text("[defaults.money]\nmax_payment_mxn = 1160\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGSTACK_")}
    env |= {"GIGSTACK_POLICY": str(policy), "GIGSTACK_AUDIT_LOG": str(trail), "GIGSTACK_TOOL_CACHE": "off"}
    args = ["-m", "gigstack_mcp", "--toolsets", "default,payment_links"]  # request_payment: off by default
    server = StdioServerParameters(command=sys.executable, args=args, env=env)
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(stdio_client(server, errlog=errlog)) as mcp:
            ok = await call_ok(
                mcp, "request_payment", {"client": {"id": "client_acme"}, "items": [item(1000)]}
            )
            over = {"client": {"id": "client_acme"}, "items": [item(1000.01)]}
            text = await call_err(mcp, "request_payment", over)
    assert ok["total"] == 1160.0 and "money.max_payment_mxn" in text and "Not sent" in text
    rows = records(trail)
    assert [(r["outcome"], r.get("rule")) for r in rows] == [
        ("done", None),
        ("refused", "money.max_payment_mxn"),
    ]
    assert rows[0]["principal"] == "local" and rows[0]["gigstack"]["id"] == ok["id"]
    run = subprocess.run(
        [sys.executable, "-m", "gigstack_mcp", "audit", "verify", str(trail)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and "OK: 2 records" in run.stdout
