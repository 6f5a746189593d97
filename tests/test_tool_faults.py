"""Faults through the MCP tools (tests/test_client.py covers the client layer alone): the sandbox's fault
injection makes gigstack rate-limit, fail, time out, drop connections, commit a write and then fail,
send broken JSON or answer slowly, and an MCP client session calls the tools (in one protocol era: retries
live in the gigstack client, below the protocol).

Reads are retried and succeed; creates are never duplicated (every attempt of one call carries the same
idempotency key, and the sandbox replays a key it has seen); when retries run out the tool error says
what happened, whether the object may exist, and how to check."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from mcp import Client

from gigstack_mcp.sandbox.examples import income_invoice, item, new_client
from gigstack_mcp.server import build_server

from .conftest import call_err, call_ok, make_settings, one_era

pytestmark = [pytest.mark.anyio, one_era]

TEAM = "team_sandbox"
TIMEOUT = 1.0  # the server's per-request timeout in this module (seconds)
ATTEMPTS = 4  # max_retries=3 (conftest) + the first attempt
ITEM = item()
INVOICE = income_invoice(ITEM)
NEW_CLIENT = new_client()
# create tool, arguments, the POST path it makes, the collection that must grow by exactly one
CREATES = {
    "invoice": ("create_income_invoice", INVOICE, "^/invoices/income$", "invoices"),
    "receipt": ("create_receipt", {"items": [ITEM], "payment_form": "01"}, "^/receipts$", "receipts"),
    "payment": (
        "register_payment",
        {"client": {"id": "client_juan_perez"}, "items": [ITEM], "payment_form": "03"},
        "^/payments/register$",
        "payments",
    ),
    "client": ("create_client", NEW_CLIENT, "^/clients$", "clients"),  # no idempotency_key argument
}
TRANSIENT = {
    "429": {"kind": "status", "status": 429, "retry_after": 0.05},
    "500": {"kind": "status", "status": 500},
    "502": {"kind": "status", "status": 502},
    "503": {"kind": "status", "status": 503},
    "drop": {"kind": "drop"},
    "malformed": {"kind": "malformed"},
}


@pytest.fixture
async def mcp(era: str, sandbox) -> AsyncIterator[Client]:
    settings = make_settings(sandbox, timeout=TIMEOUT, connect_timeout=TIMEOUT)
    async with Client(build_server(settings), mode=era) as client:
        yield client


def count(sandbox, coll: str) -> int:
    return sandbox.state.store.count(TEAM, coll)


def injected(sandbox) -> int:
    return sum(sandbox.state.faults.injected.values())


# -- reads: retried, then they succeed -----------------------------------------------------------------

READS = {
    "list_clients": ({}, "^/clients$"),
    "get_client": ({"id": "client_acme"}, "^/clients/client_acme$"),
    "list_income_invoices": ({"limit": 5}, "^/invoices/income$"),
    "list_services": ({}, "^/services$"),
}


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
@pytest.mark.parametrize("tool", READS)
async def test_read_is_retried_and_succeeds(mcp, sandbox, tool, fault):
    args, path = READS[tool]
    sandbox.state.faults.add({**fault, "path": path, "times": 2})
    result = await call_ok(mcp, tool, args)
    assert result.get("data") or result.get("id")
    assert injected(sandbox) == 2  # two failed attempts, then one that got through
    assert len(sandbox.state.api_requests("GET", path)) == 1


async def test_retry_after_is_honoured(mcp, sandbox):
    sandbox.state.faults.add({"kind": "status", "status": 429, "retry_after": 0.6, "path": "^/clients$"})
    started = time.perf_counter()
    await call_ok(mcp, "list_clients")
    assert time.perf_counter() - started >= 0.55  # waited what gigstack asked, not the 0.01 s back-off


async def test_slow_answer_below_the_timeout_is_not_retried(mcp, sandbox):
    sandbox.state.faults.add({"kind": "latency", "delay": TIMEOUT * 0.25, "path": "^/clients$"})
    page = await call_ok(mcp, "list_clients")
    assert len(page["data"]) == 3
    assert sandbox.state.faults.injected == {"latency": 1}
    assert len(sandbox.state.api_requests("GET", "^/clients$")) == 1


async def test_answer_slower_than_the_timeout_is_retried(mcp, sandbox):
    sandbox.state.faults.add({"kind": "latency", "delay": TIMEOUT * 2.5, "path": "^/clients$"})
    started = time.perf_counter()
    page = await call_ok(mcp, "list_clients")
    assert len(page["data"]) == 3
    assert time.perf_counter() - started < TIMEOUT * 2.5  # gave up on the slow one, did not wait it out


# -- creates: never duplicated ---------------------------------------------------------------------------


@pytest.mark.parametrize("what", CREATES)
@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503, "after": True},
        {"kind": "status", "status": 502, "after": True},
        {"kind": "status", "status": 500, "after": True},
        {"kind": "drop", "after": True},
        {"kind": "malformed", "after": True},
        {"kind": "status", "status": 503},  # before the commit
        {"kind": "status", "status": 429, "retry_after": 0.05},
    ],
    ids=["503-after-commit", "502-after-commit", "500-after-commit", "drop-after-commit",
         "malformed-after-commit", "503-before-commit", "429"],
)  # fmt: skip
async def test_create_survives_a_fault_exactly_once(mcp, sandbox, what, fault):
    tool, args, path, coll = CREATES[what]
    before = count(sandbox, coll)
    sandbox.state.faults.add({**fault, "method": "POST", "path": path, "times": 1})
    created = await call_ok(mcp, tool, args)
    assert count(sandbox, coll) == before + 1
    posts = sandbox.state.api_requests("POST", path)
    keys = {p["idempotency_key"] for p in posts}
    assert len(keys) == 1  # every attempt carried the same key
    if fault.get("after"):  # the first attempt committed, the retry got the stored answer
        assert [p.get("replayed", False) for p in posts] == [False, True]
    assert created.get("id") or created.get("uuid")


async def test_create_that_timed_out_after_committing_is_not_duplicated(mcp, sandbox):
    """The answer takes longer than the timeout (the write happens meanwhile); the retry carries the
    same key, so gigstack answers with the invoice it already made."""
    before = count(sandbox, "invoices")
    sandbox.state.faults.add(
        {"kind": "latency", "delay": TIMEOUT * 1.5, "method": "POST", "path": "^/invoices/income$"}
    )
    created = await call_ok(mcp, "create_income_invoice", {**INVOICE, "idempotency_key": "timeout-once-1"})
    sandbox.wait_idle()  # the slow first attempt finishes on the sandbox
    assert count(sandbox, "invoices") == before + 1
    assert sandbox.state.store.get(TEAM, "invoices", created["uuid"]) is not None


# -- when retries run out: say what happened, whether it may exist, how to check ---------------------------


@pytest.mark.parametrize(
    "fault, said",
    [
        ({"kind": "status", "status": 503, "after": True}, "gigstack answered HTTP 503"),
        ({"kind": "drop", "after": True}, "No usable answer from gigstack"),
        ({"kind": "malformed", "after": True}, "malformed answer"),
        ({"kind": "latency", "delay": TIMEOUT * 1.5}, "timed out"),
    ],
    ids=["503", "drop", "malformed", "timeout"],
)
async def test_create_whose_faults_outlast_the_retries(mcp, sandbox, fault, said):
    key = f"outlast-{fault['kind']}-0001"
    args = {**INVOICE, "idempotency_key": key}
    before = count(sandbox, "invoices")
    sandbox.state.faults.add({**fault, "method": "POST", "path": "^/invoices/income$", "times": None})

    text = await call_err(mcp, "create_income_invoice", args)
    assert said in text and f"gave up after {ATTEMPTS} attempts" in text
    assert "MAY have been applied" in text  # it did: the first attempt committed
    assert "check with the matching list/get tool" in text and "same idempotency_key" in text

    sandbox.state.faults.clear()
    sandbox.wait_idle()  # slow attempts finish on the sandbox
    assert count(sandbox, "invoices") == before + 1
    # What the error tells the assistant to do: look, then retry with the same key.
    newest = await call_ok(mcp, "list_income_invoices", {"limit": 1})
    again = await call_ok(mcp, "create_income_invoice", args)
    assert again["uuid"] == newest["data"][0]["uuid"]
    assert count(sandbox, "invoices") == before + 1  # still exactly one


async def test_rate_limit_that_outlasts_the_retries_says_nothing_was_created(mcp, sandbox):
    before = count(sandbox, "clients")
    sandbox.state.faults.add(
        {"kind": "status", "status": 429, "retry_after": 0.01, "method": "POST", "times": None}
    )
    text = await call_err(mcp, "create_client", NEW_CLIENT)
    assert "HTTP 429" in text and f"gave up after {ATTEMPTS} attempts" in text
    assert "MAY have been applied" not in text  # a 429 means gigstack did not take it
    assert count(sandbox, "clients") == before


async def test_read_whose_faults_outlast_the_retries(mcp, sandbox):
    sandbox.state.faults.add({"kind": "status", "status": 503, "path": "^/clients$", "times": None})
    text = await call_err(mcp, "list_clients")
    assert "HTTP 503" in text and f"gave up after {ATTEMPTS} attempts" in text
    assert "MAY have been applied" not in text  # a read changes nothing
    assert injected(sandbox) == ATTEMPTS


async def test_a_refusal_is_not_retried(mcp, sandbox):
    before = count(sandbox, "invoices")
    sandbox.state.faults.add(
        {"kind": "status", "status": 409, "method": "POST", "path": "^/invoices/income$"}
    )
    text = await call_err(mcp, "create_income_invoice", INVOICE)
    assert "HTTP 409" in text and "MAY have been applied" not in text
    assert injected(sandbox) == 1 and count(sandbox, "invoices") == before
