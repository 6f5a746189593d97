"""The gigstack client over real HTTP against the real sandbox: auth, retries and their limits,
Retry-After, idempotency across commit-then-fail, pagination, `?team=`, and the API key kept secret."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import traceback

import pytest
from mcp import Client

from gigstack_mcp.client import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GigstackClient,
    GigstackError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from gigstack_mcp.sandbox.examples import new_client
from gigstack_mcp.server import build_server

from .conftest import API_KEY, call_err, make_settings

pytestmark = pytest.mark.anyio

TEAM = "team_sandbox"
NEW_CLIENT = new_client()
SEEDED_CLIENTS = 3


def client_for(sandbox, **kw) -> GigstackClient:
    kw.setdefault("retry_wait_initial", 0.01)
    kw.setdefault("retry_wait_max", 0.05)
    return GigstackClient(kw.pop("api_key", API_KEY), kw.pop("api_url", sandbox.url), **kw)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v2"


def assert_secret_absent(secret: str, exc: BaseException) -> None:
    """Not in the message, the repr, the formatted traceback, nor anything it chains to."""
    assert secret not in "".join(traceback.format_exception(exc))
    seen: BaseException | None = exc
    while seen is not None:
        assert secret not in str(seen) and secret not in repr(seen)
        assert all(secret not in repr(v) for v in vars(seen).values())
        seen = seen.__cause__ or seen.__context__


# -- authentication ----------------------------------------------------------------------------------


async def test_wrong_key_is_authentication_error_without_the_key(sandbox):
    wrong = "sk_test_wrong_key_93be0c71"
    async with client_for(sandbox, api_key=wrong) as c:
        assert wrong not in repr(c) and wrong not in str(c)
        with pytest.raises(AuthenticationError) as info:
            await c.get("/clients")
    exc = info.value
    assert exc.status_code == 401 and exc.code == "unauthorized"
    assert exc.api_message == "Unauthorized" and "Missing or invalid API key" in str(exc)
    assert exc.outcome == "not_applied"
    assert_secret_absent(wrong, exc)
    assert len(sandbox.state.api_requests("GET", "^/clients$")) == 1  # 401 is not retried


# -- retries -----------------------------------------------------------------------------------------

RETRYABLE_FAULTS = {
    "429": {"kind": "status", "status": 429, "retry_after": 0},
    "500": {"kind": "status", "status": 500},
    "502": {"kind": "status", "status": 502},
    "503": {"kind": "status", "status": 503},
    "504": {"kind": "status", "status": 504},
    "drop": {"kind": "drop"},
    "malformed": {"kind": "malformed"},
}


@pytest.mark.parametrize("fault", RETRYABLE_FAULTS.values(), ids=RETRYABLE_FAULTS.keys())
async def test_retryable_fault_is_retried_then_succeeds(sandbox, gigstack, fault):
    sandbox.state.faults.add({**fault, "path": "^/clients$", "times": 2})
    page = await gigstack.get("/clients")
    assert len(page["data"]) == SEEDED_CLIENTS
    assert sum(sandbox.state.faults.injected.values()) == 2  # two failed attempts ...
    assert len(sandbox.state.api_requests("GET", "^/clients$")) == 1  # ... then one that got through
    assert not sandbox.state.faults.rules


async def test_timeout_is_retried_then_succeeds(sandbox):
    sandbox.state.faults.add({"kind": "latency", "delay": 0.5, "path": "^/clients$", "times": 1})
    async with client_for(sandbox, timeout=0.2) as c:
        page = await c.get("/clients")
    assert len(page["data"]) == SEEDED_CLIENTS
    assert sandbox.state.faults.injected == {"latency": 1}


async def test_write_retried_after_a_fault_before_commit_creates_once(sandbox, gigstack):
    sandbox.state.faults.add({"kind": "status", "status": 503, "method": "POST", "times": 2})
    created = await gigstack.post("/clients", json=NEW_CLIENT)
    assert created["data"]["tax_id"] == NEW_CLIENT["tax_id"]
    assert sandbox.state.store.count(TEAM, "clients") == SEEDED_CLIENTS + 1
    assert len(sandbox.state.api_requests("POST", "^/clients$")) == 1


EXHAUSTING_FAULTS = {
    "503": ({"kind": "status", "status": 503}, InternalServerError),
    "429": ({"kind": "status", "status": 429, "retry_after": 0}, RateLimitError),
    "drop": ({"kind": "drop"}, APIConnectionError),
    "malformed": ({"kind": "malformed"}, APIConnectionError),
}


@pytest.mark.parametrize("fault,error", EXHAUSTING_FAULTS.values(), ids=EXHAUSTING_FAULTS.keys())
async def test_faults_that_outlast_retries_are_surfaced(sandbox, fault, error):
    sandbox.state.faults.add({**fault, "path": "^/clients", "times": None})
    async with client_for(sandbox, max_retries=2) as c:
        with pytest.raises(error) as read:
            await c.get("/clients")
        assert read.value.attempts == 3
        assert sum(sandbox.state.faults.injected.values()) == 3
        with pytest.raises(error) as write:
            await c.post("/clients", json=NEW_CLIENT)
    assert write.value.attempts == 3
    assert sum(sandbox.state.faults.injected.values()) == 6
    if isinstance(write.value, RateLimitError):
        # a 429 is a refusal: nothing was applied, and the error says so
        assert write.value.outcome == "not_applied" and write.value.status_code == 429
    else:
        assert write.value.outcome == "unknown"  # the write may have happened
    if isinstance(read.value, InternalServerError):
        assert read.value.outcome == "not_applied" and read.value.status_code == 503
        assert (
            str(read.value)
            == "gigstack 503 on GET /clients: Injected fault: Sandbox fault injection: HTTP 503"
        )
    assert sandbox.state.store.count(TEAM, "clients") == SEEDED_CLIENTS


async def test_timeouts_that_outlast_retries_are_surfaced(sandbox):
    sandbox.state.faults.add({"kind": "latency", "delay": 0.3, "path": "^/clients$", "times": None})
    async with client_for(sandbox, timeout=0.1, max_retries=1) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.get("/clients")
    assert info.value.attempts == 2 and info.value.outcome == "unknown"
    assert "timed out" in str(info.value)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(sandbox, gigstack, status):
    # Retry-After (0.3 s) is well above the client's own backoff (<= 0.05 s): the wait must come from it.
    sandbox.state.faults.add({"kind": "status", "status": status, "retry_after": 0.3, "times": 1})
    start = time.monotonic()
    await gigstack.get("/clients")
    assert time.monotonic() - start >= 0.3
    assert sandbox.state.faults.injected == {f"status{status}": 1}


async def test_client_errors_are_not_retried(sandbox, gigstack):
    with pytest.raises(BadRequestError) as bad:
        await gigstack.post("/clients", json={**NEW_CLIENT, "tax_id": "NOT-AN-RFC!"})
    assert bad.value.status_code == 400 and "tax_id" in str(bad.value)
    assert bad.value.outcome == "not_applied"
    assert len(sandbox.state.api_requests("POST", "^/clients$")) == 1
    with pytest.raises(NotFoundError) as missing:
        await gigstack.get("/clients/client_missing")
    assert missing.value.status_code == 404 and missing.value.code == "resource_not_found"
    assert len(sandbox.state.api_requests("GET", "^/clients/client_missing$")) == 1


# -- idempotency -------------------------------------------------------------------------------------


async def test_commit_then_fail_is_retried_with_the_same_key_and_creates_once(sandbox, gigstack):
    sandbox.state.faults.add(
        {"kind": "status", "status": 502, "method": "POST", "path": "^/clients$", "after": True}
    )
    created = await gigstack.post("/clients", json=NEW_CLIENT)
    stored = sandbox.state.store.find(TEAM, "clients", lambda d: d.get("tax_id") == NEW_CLIENT["tax_id"])
    assert [d["id"] for d in stored] == [created["data"]["id"]]
    assert sandbox.state.store.count(TEAM, "clients") == SEEDED_CLIENTS + 1
    first, second = sandbox.state.api_requests("POST", "^/clients$")
    assert first["idempotency_key"] and first["idempotency_key"] == second["idempotency_key"]
    assert first["idempotency_key"].startswith("gsmcp-")
    assert second.get("replayed") is True and second["status"] == 201
    assert sandbox.state.faults.injected == {"status502-after": 1}


async def test_commit_then_fail_every_time_is_unknown_but_still_one_object(sandbox):
    sandbox.state.faults.add(
        {"kind": "status", "status": 502, "method": "POST", "after": True, "times": None}
    )
    async with client_for(sandbox, max_retries=2) as c:
        with pytest.raises(InternalServerError) as info:
            await c.post("/clients", json=NEW_CLIENT)
    assert info.value.outcome == "unknown" and info.value.attempts == 3
    assert sandbox.state.store.count(TEAM, "clients") == SEEDED_CLIENTS + 1
    keys = {r["idempotency_key"] for r in sandbox.state.api_requests("POST", "^/clients$")}
    assert len(keys) == 1


async def test_caller_supplied_idempotency_key_is_used(sandbox, gigstack):
    key = "order-981:create-client"
    first = await gigstack.post("/clients", json=NEW_CLIENT, idempotency_key=key)
    again = await gigstack.post("/clients", json={**NEW_CLIENT, "name": "Otra"}, idempotency_key=key)
    assert again == first  # the first answer, replayed
    logged = sandbox.state.api_requests("POST", "^/clients$")
    assert [r["idempotency_key"] for r in logged] == [key, key]
    assert logged[1].get("replayed") is True
    assert sandbox.state.store.count(TEAM, "clients") == SEEDED_CLIENTS + 1
    other = await gigstack.post("/clients", json={**NEW_CLIENT, "tax_id": "GORL850315K22"})
    assert other["data"]["id"] != first["data"]["id"]  # no key given: a fresh one per call


# -- pagination --------------------------------------------------------------------------------------


async def test_paginate_walks_250_items_once_in_order(sandbox, gigstack):
    store = sandbox.state.store
    seeded = [d["id"] for _, d in store.all(TEAM, "clients")]
    mine = [f"client_p{i:03d}" for i in range(250)]
    for i, cid in enumerate(mine):
        store.put(TEAM, "clients", {"id": cid, "name": f"Cliente {i}", "created_at": 1_700_000_000 + i})
    ids = [c["id"] async for c in gigstack.paginate("/clients", query={"sort": "asc"}, page_size=100)]
    assert ids == seeded + mine
    assert len(sandbox.state.api_requests("GET", "^/clients$")) == 3  # 100 + 100 + 53
    assert all(r["query"]["limit"] == "100" for r in sandbox.state.api_requests("GET"))

    sandbox.state.requests.clear()
    newest = [c["id"] async for c in gigstack.paginate("/clients", page_size=100, max_items=120)]
    assert newest == (seeded + mine)[::-1][:120]
    assert len(sandbox.state.api_requests("GET")) == 2  # stops once max_items is reached


async def test_many_calls_in_flight_keep_their_connections(sandbox, gigstack):
    """60 calls at once, five times over: the connections opened in the first round carry the rest
    (the sandbox logs which connection carried each request)."""
    for _ in range(5):
        await asyncio.gather(*(gigstack.get("/clients", query={"limit": 1}) for _ in range(60)))
    peers = {r["peer"] for r in sandbox.state.api_requests("GET", "^/clients$")}
    assert len(sandbox.state.api_requests("GET", "^/clients$")) == 300
    assert 8 <= len(peers) <= 60 + 8


async def test_sequential_calls_reuse_one_connection(sandbox, gigstack):
    for _ in range(10):
        await gigstack.get("/clients", query={"limit": 1})
    assert len({r["peer"] for r in sandbox.state.api_requests("GET", "^/clients$")}) == 1


# -- gigstack Connect --------------------------------------------------------------------------------


async def test_team_is_sent_on_every_call(sandbox):
    async with client_for(sandbox, team=TEAM) as c:
        created = await c.post("/clients", json=NEW_CLIENT)
        cid = created["data"]["id"]
        await c.get(f"/clients/{cid}")
        await c.put(f"/clients/{cid}", json={"email": "lg@example.com"})
        await c.get("/clients", query={"limit": 1})
        assert len([x async for x in c.paginate("/clients", page_size=2)]) == SEEDED_CLIENTS + 1
        await c.delete(f"/clients/{cid}")
        with pytest.raises(PermissionDeniedError) as info:
            await c.get("/clients", team="team_not_mine")
    logged = sandbox.state.api_requests()
    assert {r["method"] for r in logged} == {"GET", "POST", "PUT", "DELETE"}
    assert [r["query"].get("team") for r in logged[:-1]] == [TEAM] * (len(logged) - 1)
    assert logged[-1]["query"]["team"] == "team_not_mine" and logged[-1]["status"] == 403
    assert info.value.status_code == 403 and "team_not_mine" in str(info.value)


async def test_no_team_param_without_a_team(sandbox, gigstack):
    await gigstack.get("/clients")
    assert "team" not in sandbox.state.api_requests()[0]["query"]


# -- the key stays secret ----------------------------------------------------------------------------

LOGGERS = ("httpx", "httpcore", "gigstack_mcp", "stamina", None)


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    return "\n".join(parts)


async def test_api_key_never_in_logs_or_errors(sandbox, caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    wrong = "sk_test_wrong_key_5d1e77aa"
    errors: list[GigstackError] = []
    async with client_for(sandbox, team=TEAM) as c:
        await c.get("/clients")
        await c.post("/clients", json=NEW_CLIENT)
        sandbox.state.faults.add({"kind": "status", "status": 503, "times": 1}, {"kind": "drop", "times": 1})
        await c.get("/clients")
        for call in (c.get("/clients/nope"), c.post("/clients", json={"tax_id": "BAD"})):
            with pytest.raises(GigstackError) as info:
                await call
            errors.append(info.value)
    async with client_for(sandbox, api_key=wrong) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.get("/clients")
        errors.append(info.value)
    async with client_for(sandbox, api_url=closed_port_url(), max_retries=1) as c:
        with pytest.raises(APIConnectionError) as info:
            await c.get("/clients")
        assert info.value.attempts == 2 and "could not reach gigstack" in str(info.value)
        assert API_KEY not in repr(c)
        errors.append(info.value)

    loggers = {r.name.split(".")[0] for r in caplog.records}
    assert {"httpx", "httpcore", "gigstack_mcp"} <= loggers  # the logs were really captured
    text = _all_log_text(caplog)
    for secret in (API_KEY, wrong):
        assert secret not in text
        for exc in errors:
            assert_secret_absent(secret, exc)


async def test_api_key_never_in_tool_errors(sandbox, caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    wrong = "sk_test_wrong_key_0b7f3e21"
    texts = []
    for overrides in ({"api_key": wrong}, {"api_url": closed_port_url(), "max_retries": 1}):
        settings = make_settings(sandbox, **overrides)
        async with Client(build_server(settings), mode="legacy") as client:
            texts.append(await call_err(client, "list_clients", {}))
            texts.append(await call_err(client, "create_client", NEW_CLIENT))
    assert "401" in texts[0] and "API key was rejected" in texts[0]
    assert "No usable answer from gigstack" in texts[2] and "MAY have been applied" in texts[3]
    text = "\n".join(texts) + _all_log_text(caplog)
    assert API_KEY not in text and wrong not in text
