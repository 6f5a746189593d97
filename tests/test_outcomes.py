"""Honest outcomes after a request was sent, through the real server (in-memory MCP sessions, both
protocol eras) against the real sandbox on 127.0.0.1, whose fault injection commits a write and then
answers badly: an empty or odd body, an error, an answer too large or too deep.

- a success whose body does not fit our result model is reported done with what could be read, never as
  "Invalid arguments (nothing was sent)";
- an unreadable answer after a write says "sent; MAY have been applied", which tool shows it, and the
  idempotency key it carried; the model repeating the same call reuses that key (one invoice);
- a 404/409 on the retry of a destructive call whose first attempt may have committed says "probably
  already done";
- every answer has a size cap and a nesting limit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from mcp import Client, types

from gigstack_mcp.client import APITimeoutError, GigstackClient, InternalServerError, ResponseRefused
from gigstack_mcp.registry import CHECK_WITH, Kind
from gigstack_mcp.sandbox.examples import income_invoice, item, new_client
from gigstack_mcp.server import build_server
from gigstack_mcp.tools import select

from .conftest import API_KEY, call_err, call_ok, make_settings

pytestmark = pytest.mark.anyio

TEAM = "team_sandbox"
INVOICE = income_invoice(item(price=100))  # under 1,000 MXN: cancels without the receiver's acceptance
ALWAYS_503_AFTER_COMMIT = {"kind": "status", "status": 503, "after": True, "times": None}


@pytest.fixture(params=["auto", "legacy"])
async def mcp(request: pytest.FixtureRequest, sandbox) -> AsyncIterator[Client]:
    """Both protocol eras; the client says yes when a destructive tool asks (elicitation)."""

    async def yes(ctx, params):
        return types.ElicitResult(action="accept", content={"confirm": True})

    server = build_server(make_settings(sandbox, max_retries=2))
    async with Client(server, mode=request.param, elicitation_callback=yes) as client:
        yield client


def count(sandbox, coll: str) -> int:
    return sandbox.state.store.count(TEAM, coll)


def answer_with(sandbox, method: str, path: str, body, *, after: bool = True) -> None:
    """The next matching request gets `body` (HTTP 200) as its answer; with `after`, the real handler
    ran first (the write committed)."""
    sandbox.state.faults.add({"kind": "body", "body": body, "method": method, "path": path, "after": after})


def assert_never_said_nothing_was_sent(text: str) -> None:
    assert "nothing was sent" not in text.lower() and "Invalid arguments" not in text


# -- 1. a success that does not fit the result model is still a success ---------------------------------


async def test_member_added_but_gigstack_answers_an_empty_object(mcp, sandbox):
    uid = (await call_ok(mcp, "create_user", {"email": "nuevo@example.com"}))["id"]
    answer_with(sandbox, "POST", "/add-member$", {})
    result = await mcp.call_tool("add_team_member", {"id": TEAM, "user_id": uid, "role": "viewer"})
    text = result.content[0].text
    assert not result.is_error, text
    assert_never_said_nothing_was_sent(text)
    assert "gigstack answered without details" in text
    team = sandbox.state.store.get(TEAM, "teams", TEAM)
    assert any(m["id"] == uid for m in team["members"])  # it was done


async def test_password_reset_answered_with_only_a_message_is_done(mcp, sandbox):
    answer_with(sandbox, "POST", "^/users/reset-password$", {"message": "Password reset email sent"})
    done = await call_ok(mcp, "reset_user_password", {"email": "ana.torres@demo-sandbox.example"})
    assert done["status"] == "done" and done["message"] == "Done."
    assert done["warnings"] == ['gigstack answered without details ("Password reset email sent")']
    assert len(sandbox.state.api_requests("POST", "^/users/reset-password$")) == 1


async def test_rows_that_do_not_fit_are_left_out_and_named(mcp, sandbox):
    rows = [
        {"id": "client_a", "name": "Uno", "created_at": "yesterday", "is_valid": "maybe"},
        "not a row",
        {"id": 5, "name": "Cinco"},
        {"id": "client_b", "name": "Dos", "brand_new_field": {"x": 1}},
    ]
    answer_with(sandbox, "GET", "^/clients$", {"data": rows, "has_more": "perhaps"}, after=False)
    result = await mcp.call_tool("list_clients", {})
    assert not result.is_error, result.content[0].text
    page = result.structured_content
    assert [r.get("id") for r in page["data"]] == ["client_a", None, "client_b"]
    assert page["data"][0]["name"] == "Uno" and "created_at" not in page["data"][0]
    warning = page["warnings"][0]
    for left_out in ("data.0.created_at", "data.0.is_valid", "data.1", "data.2.id", "has_more"):
        assert left_out in warning


async def test_create_whose_answer_is_unreadable_says_sent_and_may_have_been_applied(mcp, sandbox):
    before = count(sandbox, "clients")
    answer_with(sandbox, "POST", "^/clients$", ["not", "an", "envelope"])
    result = await mcp.call_tool("create_client", new_client())
    assert result.is_error
    text = result.content[0].text
    assert_never_said_nothing_was_sent(text)
    assert "not the JSON object" in text and "MAY have been applied" in text
    assert "list_clients" in text  # names the tool that shows it
    assert result.structured_content["outcome"] == "unknown"
    assert result.structured_content["idempotency_key"] in text
    assert count(sandbox, "clients") == before + 1


# -- 2. a create repeated after an unknown outcome reuses its idempotency key ------------------------------


async def test_invoice_create_repeated_after_unknown_outcome_stamps_one_invoice(mcp, sandbox):
    before = count(sandbox, "invoices")
    sandbox.state.faults.add({**ALWAYS_503_AFTER_COMMIT, "method": "POST", "path": "^/invoices/income$"})
    result = await mcp.call_tool("create_income_invoice", INVOICE)
    assert result.is_error
    text, facts = result.content[0].text, result.structured_content
    key = facts["idempotency_key"]
    assert f"idempotency_key={key}" in text and "same arguments within 15 minutes reuses it" in text
    assert facts == {"outcome": "unknown", "check_with": "list_income_invoices", "idempotency_key": key}
    assert count(sandbox, "invoices") == before + 1  # the first attempt committed

    sandbox.state.faults.clear()
    again = await call_ok(mcp, "create_income_invoice", INVOICE)  # the model simply calls again
    assert count(sandbox, "invoices") == before + 1  # still exactly one
    assert sandbox.state.store.get(TEAM, "invoices", again["uuid"]) is not None
    posts = sandbox.state.api_requests("POST", "^/invoices/income$")
    assert {p["idempotency_key"] for p in posts} == {key} and posts[-1]["replayed"] is True

    third = await call_ok(mcp, "create_income_invoice", INVOICE)  # settled: a new call is a new invoice
    assert third["uuid"] != again["uuid"] and count(sandbox, "invoices") == before + 2


async def test_request_payment_takes_an_idempotency_key(mcp, sandbox):
    args = {"client": {"id": "client_acme"}, "items": [{"id": "service_hosting", "quantity": 1}]}
    before = count(sandbox, "payments")
    first = await call_ok(mcp, "request_payment", {**args, "idempotency_key": "order-4411-link"})
    again = await call_ok(mcp, "request_payment", {**args, "idempotency_key": "order-4411-link"})
    assert again["id"] == first["id"] and count(sandbox, "payments") == before + 1
    logged = sandbox.state.api_requests("POST", "^/payments/request$")
    assert [r["body"]["idempotency_key"] for r in logged] == ["order-4411-link"] * 2


async def test_payment_link_repeated_after_unknown_outcome_is_one_link(mcp, sandbox):
    args = {"client": {"id": "client_acme"}, "items": [{"id": "service_hosting", "quantity": 2}]}
    before = count(sandbox, "payments")
    sandbox.state.faults.add({**ALWAYS_503_AFTER_COMMIT, "method": "POST", "path": "^/payments/request$"})
    text = await call_err(mcp, "request_payment", args)
    assert "MAY have been applied" in text and "list_payments" in text
    sandbox.state.faults.clear()
    await call_ok(mcp, "request_payment", args)
    assert count(sandbox, "payments") == before + 1


class Clock:
    """An injected monotonic clock (the ledger of unsettled keys expires on it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_reused_key_expires_after_the_window(sandbox):
    clock = Clock()
    sandbox.state.faults.add({**ALWAYS_503_AFTER_COMMIT, "method": "POST"})
    async with GigstackClient(
        API_KEY, sandbox.url, max_retries=0, retry_wait_initial=0, idempotency_window=60, clock=clock
    ) as c:
        with pytest.raises(InternalServerError) as first:
            await c.post("/clients", json=new_client())
        clock.now += 59
        with pytest.raises(InternalServerError) as within:
            await c.post("/clients", json=new_client())
        with pytest.raises(InternalServerError) as other_team:
            await c.post("/clients", json=new_client(), team="team_other")
        clock.now += 61  # each unknown outcome keeps the key a full window from then
        with pytest.raises(InternalServerError) as later:
            await c.post("/clients", json=new_client())
    assert first.value.outcome == "unknown" and first.value.idempotency_key
    assert within.value.idempotency_key == first.value.idempotency_key
    assert other_team.value.idempotency_key != first.value.idempotency_key  # another caller's call
    assert later.value.idempotency_key != first.value.idempotency_key  # the window passed


async def test_a_timed_out_create_gives_its_key_and_the_repeat_reuses_it(sandbox):
    before = count(sandbox, "clients")
    sandbox.state.faults.add({"kind": "latency", "delay": 0.5, "method": "POST", "path": "^/clients$"})
    async with GigstackClient(API_KEY, sandbox.url, timeout=0.1, max_retries=0) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.post("/clients", json=new_client())
        again = await c.post("/clients", json=new_client())  # whichever arrives first creates it
    assert info.value.outcome == "unknown" and info.value.idempotency_key
    logged = sandbox.state.api_requests("POST", "^/clients$")
    assert {r["idempotency_key"] for r in logged} == {info.value.idempotency_key}
    assert again["data"]["id"] and count(sandbox, "clients") == before + 1


# -- 3. a retry of a destructive call that finds it done says "probably already done" -------------------


async def test_delete_whose_retry_gets_404_is_probably_already_done(mcp, sandbox):
    sandbox.state.faults.add(
        {"kind": "status", "status": 503, "method": "DELETE", "path": "^/clients/client_acme$", "after": True}
    )
    text = await call_err(mcp, "delete_client", {"id": "client_acme"})
    assert "HTTP 404" in text and "Probably already done" in text and "get_client" in text
    assert sandbox.state.store.get(TEAM, "clients", "client_acme") is None  # the first attempt did it
    assert [r["status"] for r in sandbox.state.api_requests("DELETE")] == [200, 404]


async def test_cancel_whose_retry_gets_409_is_probably_already_done(mcp, sandbox):
    uuid = (await call_ok(mcp, "create_income_invoice", INVOICE))["uuid"]
    sandbox.state.faults.add(
        {"kind": "drop", "method": "DELETE", "path": f"^/invoices/{uuid}$", "after": True}
    )
    text = await call_err(mcp, "cancel_invoice", {"uuid": uuid, "motive": "02"})
    assert "HTTP 409" in text and "already cancelled" in text
    assert "Probably already done" in text and "get_income_invoice" in text
    assert sandbox.state.store.get(TEAM, "invoices", uuid)["status"] == "cancelled"


async def test_a_404_without_an_earlier_attempt_is_just_a_404(mcp, sandbox):
    sandbox.state.faults.add({"kind": "status", "status": 404, "method": "DELETE"})
    text = await call_err(mcp, "delete_client", {"id": "client_acme"})
    assert "HTTP 404" in text and "Probably" not in text
    assert sandbox.state.store.get(TEAM, "clients", "client_acme") is not None


# -- 6. size and nesting limits on every answer --------------------------------------------------------


async def test_a_50_mb_answer_is_refused_unread_and_the_server_keeps_serving(mcp, sandbox):
    sandbox.state.faults.add({"kind": "oversize", "size": 50_000_000, "path": "^/clients/client_acme$"})
    text = await call_err(mcp, "get_client", {"id": "client_acme"})
    assert "over the 10 MB limit (GIGSTACK_MAX_RESPONSE_BYTES)" in text
    assert_never_said_nothing_was_sent(text)
    assert "MAY" not in text  # a read changes nothing
    assert len(sandbox.state.api_requests("GET", "^/clients/client_acme$")) == 0  # answered by the fault
    assert (await call_ok(mcp, "get_client", {"id": "client_acme"}))["id"] == "client_acme"


@pytest.mark.parametrize("depth", [70, 100_000], ids=["over-our-limit", "over-pythons-stack"])
async def test_deep_json_is_refused_with_the_limit(mcp, sandbox, depth):
    sandbox.state.faults.add({"kind": "deep", "depth": depth, "path": "^/clients$"})
    text = await call_err(mcp, "list_clients", {})
    assert "nests deeper than 64 levels (GIGSTACK_MAX_JSON_DEPTH)" in text


async def test_a_write_whose_answer_is_too_large_may_have_been_applied_and_repeats_once(mcp, sandbox):
    before = count(sandbox, "clients")
    sandbox.state.faults.add(
        {"kind": "oversize", "size": 11_000_000, "method": "POST", "path": "^/clients$", "after": True}
    )
    result = await mcp.call_tool("create_client", new_client())
    text = result.content[0].text
    assert result.is_error and "over the 10 MB limit" in text
    assert "MAY have been applied" in text and "list_clients" in text
    assert count(sandbox, "clients") == before + 1
    await call_ok(mcp, "create_client", new_client())  # the same call again: gigstack replays the first
    assert count(sandbox, "clients") == before + 1


async def test_client_refuses_oversize_and_deep_answers_without_retrying(sandbox):
    sandbox.state.faults.add({"kind": "oversize", "size": 2_000_000, "times": None})
    async with GigstackClient(API_KEY, sandbox.url, max_response_bytes=1_000_000) as c:
        with pytest.raises(ResponseRefused) as info:
            await c.get("/clients")
    assert info.value.outcome == "not_applied" and "1 MB limit" in str(info.value)
    assert sandbox.state.faults.injected == {"oversize": 1}  # refused at once, not retried


def test_every_write_names_the_tool_that_shows_whether_it_happened():
    specs = select("all")
    reads = {s.name for s in specs if s.kind is Kind.READ}
    writes = {s.name for s in specs if s.kind is not Kind.READ}
    assert writes == set(CHECK_WITH)
    for name, check in CHECK_WITH.items():
        named = set(re.findall(r"\b(?:get|list)_[a-z_]+", check))
        assert named <= reads, (name, named - reads)
        assert named or check.startswith("nothing"), name
