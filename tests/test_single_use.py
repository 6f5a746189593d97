"""A confirmation is used once (issue 12). Each attack is replayed through the real server and must do no
harm, asserted on the sandbox's request log: a confirmation_token sent again (also altered, also
concurrently, also by another caller), a 2026-07-28 accepted answer sent again with its sealed state,
asking that fails, and all of it across two real `--stateless` replica processes sharing a real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitResult, ErrorData, InputRequiredResult

from gigstack_mcp.guards.spent import MemorySpentStore, RedisSpentStore, StoreUnavailable
from gigstack_mcp.http import BackgroundServer, TokenMap, build_http_app
from gigstack_mcp.sandbox._core import DEFAULT_TEAM
from gigstack_mcp.sandbox.server import SandboxServer
from gigstack_mcp.server import build_server

from .conftest import API_KEY, call_err, call_ok, http_replicas, make_settings, redis_server

pytestmark = pytest.mark.anyio

REFUND = {"id": "payment_demo_transfer", "amount": 100}
RESET = {"email": "ana.torres@demo-sandbox.example"}
TOKEN_1, TOKEN_2 = "tok1-6d0c2b9e4f7a1835c2", "tok2-1e8f3a7c5b2d9046e1"  # two callers, the server's key
USED = "already used"


def refunds(sandbox: SandboxServer) -> list[dict]:
    return sandbox.state.api_requests("POST", r"^/payments/payment_demo_transfer/refund$")


def resets(sandbox: SandboxServer) -> list[dict]:
    return sandbox.state.api_requests("POST", r"^/users/reset-password$")


def altered(token: str) -> list[str]:
    """Copies of a token that decode to the same values, or nearly: each must be refused."""
    expires, nonce, sig = token.split(".")
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The signature's last character carries 2 spare bits: the same bytes, spelt differently.
    same_bytes = sig[:-1] + last[last.index(sig[-1]) ^ 1]
    return [
        f"0{expires}.{nonce}.{sig}",  # leading zero
        f"{expires}.{nonce}.{sig}=",  # padding
        f"{expires}.{nonce}.{sig}==",
        f" {token}",
        f"{token} ",
        f"{token}\n",
        f"{expires} .{nonce}.{sig}",
        f"{token}!",  # junk
        f"{token}.x",
        f"+{expires}.{nonce}.{sig}",
        f"{expires}.{nonce}.{same_bytes}",
        token.upper(),
        f"{expires}.{sig}",  # the old two-part shape
    ]


# -- one process, both eras ----------------------------------------------------------------------------


async def test_a_refund_token_executes_once(mcp, sandbox):
    """Measured before: one approved refund of 100 MXN ran 7 times within the token's lifetime."""
    first = await call_ok(mcp, "refund_payment", REFUND)
    args = REFUND | {"confirmation_token": first["confirmation_token"]}
    assert (await call_ok(mcp, "refund_payment", args))["status"] == "done"
    for _ in range(6):
        text = await call_err(mcp, "refund_payment", args)
        assert USED in text and "nothing was done again" in text and "without confirmation_token" in text
    assert len(refunds(sandbox)) == 1
    assert (
        sandbox.state.store.get("team_sandbox", "payments", "payment_demo_transfer")["refunded_amount"] == 100
    )


async def test_altered_tokens_are_refused_and_do_not_burn_the_real_one(mcp, sandbox):
    token = (await call_ok(mcp, "refund_payment", REFUND))["confirmation_token"]
    for variant in altered(token):
        text = await call_err(mcp, "refund_payment", REFUND | {"confirmation_token": variant})
        assert "Nothing was done" in text and ("malformed" in text or "does not match" in text), variant
    assert not refunds(sandbox)
    # A refused call spends nothing: the real token still works, once.
    assert (await call_ok(mcp, "refund_payment", REFUND | {"confirmation_token": token}))["status"] == "done"
    for variant in [token, *altered(token)]:
        await call_err(mcp, "refund_payment", REFUND | {"confirmation_token": variant})
    assert len(refunds(sandbox)) == 1


async def test_concurrent_uses_of_one_token_execute_once(mcp, sandbox):
    token = (await call_ok(mcp, "refund_payment", REFUND))["confirmation_token"]
    outcomes: list[bool] = []

    async def use() -> None:
        result = await mcp.call_tool("refund_payment", REFUND | {"confirmation_token": token})
        outcomes.append(not result.is_error)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(use)
    assert sorted(outcomes) == [False] * 4 + [True]
    assert len(refunds(sandbox)) == 1


async def test_a_call_refused_before_sending_does_not_spend_the_token(mcp, sandbox):
    """The guard cannot read the payment (gigstack answers 404 once): refused, nothing sent, and the
    token stays good for the call that follows."""
    token = (await call_ok(mcp, "refund_payment", REFUND))["confirmation_token"]
    fault = {"kind": "status", "status": 404, "method": "GET", "path": "^/payments/payment_demo_transfer$"}
    sandbox.state.faults.add(fault)
    text = await call_err(mcp, "refund_payment", REFUND | {"confirmation_token": token})
    assert "404" in text and not refunds(sandbox)
    assert (await call_ok(mcp, "refund_payment", REFUND | {"confirmation_token": token}))["status"] == "done"
    assert len(refunds(sandbox)) == 1


async def test_an_accepted_answer_executes_once_2026(sandbox):
    """2026-07-28: the answer rides a retried tools/call with the sealed request state. Measured before:
    that retry sent again three times sent three password-reset emails."""

    async def never(ctx, params) -> ElicitResult:
        raise AssertionError("driven by hand below")

    async with Client(build_server(make_settings(sandbox)), elicitation_callback=never) as client:
        asked = await client.session.call_tool("reset_user_password", RESET, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult) and asked.request_state
        (key,) = asked.input_requests
        yes = {key: ElicitResult(action="accept", content={"confirm": True})}
        results = [
            await client.session.call_tool(
                "reset_user_password", RESET, input_responses=yes, request_state=asked.request_state
            )
            for _ in range(3)
        ]
    assert not results[0].is_error and results[0].structured_content["status"] == "done"
    for again in results[1:]:
        assert (
            again.is_error and USED in again.content[0].text and "ask the user anew" in again.content[0].text
        )
    assert len(resets(sandbox)) == 1


async def test_a_declined_answer_spends_nothing_2026(sandbox):
    async def never(ctx, params) -> ElicitResult:
        raise AssertionError("driven by hand below")

    async with Client(build_server(make_settings(sandbox)), elicitation_callback=never) as client:
        asked = await client.session.call_tool("reset_user_password", RESET, allow_input_required=True)
        (key,) = asked.input_requests
        no = {key: ElicitResult(action="accept", content={"confirm": False})}
        yes = {key: ElicitResult(action="accept", content={"confirm": True})}
        state = asked.request_state
        declined = await client.session.call_tool(
            "reset_user_password", RESET, input_responses=no, request_state=state
        )
        assert declined.structured_content["status"] == "declined"
        done = await client.session.call_tool(
            "reset_user_password", RESET, input_responses=yes, request_state=state
        )
        assert done.structured_content["status"] == "done"
    assert len(resets(sandbox)) == 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_asking_that_fails_is_an_error_never_a_token(sandbox, mode):
    """The client can elicit, but building the question fails once (gigstack answers 404): before, the
    body fell back to issuing a confirmation_token the model could spend without the human."""
    asked: list[str] = []

    async def yes(ctx, params) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    sandbox.state.faults.add(
        {"kind": "status", "status": 404, "method": "GET", "path": "^/clients/client_acme$"}
    )
    async with Client(build_server(make_settings(sandbox)), mode=mode, elicitation_callback=yes) as client:
        result = await client.call_tool("delete_client", {"id": "client_acme"})
    assert result.is_error and "404" in result.content[0].text
    assert result.structured_content is None or "confirmation_token" not in result.structured_content
    assert asked == [] and not sandbox.state.api_requests("DELETE")


async def test_a_client_error_while_asking_is_an_error(sandbox):
    async def broken(ctx, params) -> ErrorData:
        return ErrorData(code=-32603, message="the UI crashed")

    async with Client(
        build_server(make_settings(sandbox)), mode="legacy", elicitation_callback=broken
    ) as client:
        try:
            result = await client.call_tool("delete_client", {"id": "client_acme"})
        except MCPError:
            pass
        else:
            assert result.is_error and "confirmation_token" not in (result.structured_content or {})
    assert not sandbox.state.api_requests("DELETE")


async def test_preview_token_altered_copies_are_refused(sandbox):
    from .test_preview import invoice, item  # the same invoice arguments test_preview uses

    async with Client(build_server(make_settings(sandbox, require_preview=True))) as client:
        args = invoice(item(1000))
        token = (await call_ok(client, "create_income_invoice", args | {"preview": True}))["preview_token"]
        for variant in altered(token):
            text = await call_err(client, "create_income_invoice", {**args, "preview_token": variant})
            assert "Not sent to gigstack" in text, variant
        assert not sandbox.state.api_requests("POST", "^/invoices/income$")
        first = await call_ok(client, "create_income_invoice", {**args, "preview_token": token})
        again = await call_ok(
            client, "create_income_invoice", {**args, "preview_token": token, "idempotency_key": "mine-0001"}
        )
    assert first["uuid"] == again["uuid"]
    keys = {r["idempotency_key"] for r in sandbox.state.api_requests("POST", "^/invoices/income$")}
    assert len(keys) == 1 and keys.pop().startswith("pv-")


async def test_a_refund_token_executes_once_over_stdio(sandbox):
    """The real `python -m gigstack_mcp` process over stdio, against the fixture sandbox."""
    from mcp import StdioServerParameters, stdio_client

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGSTACK_")} | {
        "GIGSTACK_API_URL": sandbox.url,
        "GIGSTACK_API_KEY": API_KEY,
        "GIGSTACK_TOOLSETS": "all",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "gigstack_mcp"], env=env)
    async with Client(stdio_client(params, errlog=subprocess.DEVNULL)) as client:
        token = (await call_ok(client, "refund_payment", REFUND))["confirmation_token"]
        for variant in altered(token):
            assert "Nothing was done" in await call_err(
                client, "refund_payment", REFUND | {"confirmation_token": variant}
            )
        args = REFUND | {"confirmation_token": token}
        assert (await call_ok(client, "refund_payment", args))["status"] == "done"
        for _ in range(6):
            assert USED in await call_err(client, "refund_payment", args)
    assert len(refunds(sandbox)) == 1


# -- the stores ----------------------------------------------------------------------------------------


async def test_memory_store_expires_and_is_bounded():
    now = [1000.0]
    store = MemorySpentStore(max_entries=2, clock=lambda: now[0])
    assert await store.spend("a", 1010) and not await store.spend("a", 1010)
    assert await store.spend("b", 1020)
    with pytest.raises(StoreUnavailable):  # full of live entries: refuse rather than forget one
        await store.spend("c", 1030)
    now[0] = 1011  # "a" expired: its slot is reused, "b" is still spent
    assert await store.spend("c", 1030) and not await store.spend("b", 1020)


async def test_redis_store_spends_once_until_the_confirmation_expires(redis_url):
    import redis.asyncio

    store = RedisSpentStore(redis_url, clock=lambda: 1000.0)
    nonce = f"c:test-{time.monotonic_ns()}"
    try:
        assert await store.spend(nonce, 1300) and not await store.spend(nonce, 1300)
    finally:
        await store.aclose()
    async with redis.asyncio.Redis.from_url(redis_url) as r:
        assert 295 <= await r.ttl(f"gigstack-mcp:spent:{nonce}") <= 300


async def test_redis_down_fails_closed(sandbox):
    """Redis stops under a running server: a valid confirmation does nothing, and the error says why."""
    with ExitStack() as stack:
        url = stack.enter_context(redis_server())
        async with Client(build_server(make_settings(sandbox, mcp_redis_url=url))) as client:
            used = (await call_ok(client, "delete_client", {"id": "client_acme"}))["confirmation_token"]
            args = {"id": "client_acme", "confirmation_token": used}
            assert (await call_ok(client, "delete_client", args))["status"] == "done"  # spent in Redis
            token = (await call_ok(client, "refund_payment", REFUND))["confirmation_token"]
            stack.close()  # redis-server stops
            text = await call_err(client, "refund_payment", REFUND | {"confirmation_token": token})
    assert "Nothing was done" in text and "cannot be reached" in text and "redis://" not in text
    assert not refunds(sandbox)


def test_the_redis_url_never_reaches_the_log(sandbox):
    import io
    import logging

    from gigstack_mcp.http import all_secrets, json_log_handler

    url = "redis://:s3cret-redis-pass@10.0.0.5:6379/0"
    stream = io.StringIO()
    handler = json_log_handler(all_secrets(make_settings(sandbox, mcp_redis_url=url), TokenMap()), stream)
    handler.handle(logging.makeLogRecord({"msg": "connecting to %s", "args": (url,), "levelno": 30}))
    assert url not in stream.getvalue() and "[REDACTED]" in stream.getvalue()


def test_importing_the_server_does_not_import_redis():
    code = "import sys, gigstack_mcp.server, gigstack_mcp.cli; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# -- HTTP: callers, replica processes, shared Redis -----------------------------------------------------


@asynccontextmanager
async def connect(base: str, token: str, mode: str = "auto", **kw) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode, **kw) as client,
    ):
        yield client


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_token_never_passes_for_another_caller(sandbox, mode):
    settings = make_settings(sandbox)
    app = build_http_app(settings, TokenMap.load([TOKEN_1, TOKEN_2]))
    with BackgroundServer(app, settings) as srv:
        async with connect(srv.url, TOKEN_1, mode) as one, connect(srv.url, TOKEN_2, mode) as two:
            token = (await call_ok(one, "refund_payment", REFUND))["confirmation_token"]
            text = await call_err(two, "refund_payment", REFUND | {"confirmation_token": token})
            assert "Nothing was done" in text and "another client" in text
            assert not refunds(sandbox)
            assert (await call_ok(one, "refund_payment", REFUND | {"confirmation_token": token}))[
                "status"
            ] == "done"
    assert len(refunds(sandbox)) == 1


@pytest.fixture(scope="module")
def replicas(sandboxes, redis_url: str) -> Iterator[tuple[str, str]]:
    """Two replica processes sharing the secret and the Redis of spent confirmations, for the module's
    tests (they keep nothing between calls but what is in Redis; the sandbox is reset for each test on
    the same URL). Without the per-token rate limit: it is per process, so the tests' calls would add
    up in one bucket (one test makes 18 calls a second as TOKEN_1); test_http tests the limit."""
    env = {
        "GIGSTACK_CONFIRM_SECRET": "replica-secret-7",
        "GIGSTACK_MCP_AUTH_TOKENS": f"{TOKEN_1},{TOKEN_2}",
        "GIGSTACK_MCP_REDIS_URL": redis_url,
        "GIGSTACK_MCP_RATE_LIMIT": "off",
    }
    with http_replicas(sandboxes({API_KEY: DEFAULT_TEAM}), env, env) as [(one, _), (two, _)]:
        yield one, two


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_replicas_sharing_redis_execute_a_token_once(sandbox, replicas, mode):
    """Measured before: the same token also ran on the second `--stateless` replica."""
    one, two = replicas
    async with connect(one, TOKEN_1, mode) as c1, connect(two, TOKEN_1, mode) as c2:
        token = (await call_ok(c1, "refund_payment", REFUND))["confirmation_token"]
        args = REFUND | {"confirmation_token": token}
        assert (await call_ok(c2, "refund_payment", args))["status"] == "done"
        for client in (c1, c2, c1, c2, c1, c2):
            assert USED in await call_err(client, "refund_payment", args)
        for variant in altered(token):
            assert "Nothing was done" in await call_err(
                c1, "refund_payment", REFUND | {"confirmation_token": variant}
            )
        async with connect(two, TOKEN_2, mode) as other:
            fresh = (await call_ok(c1, "delete_client", {"id": "client_acme"}))["confirmation_token"]
            text = await call_err(other, "delete_client", {"id": "client_acme", "confirmation_token": fresh})
            assert "another client" in text
    assert len(refunds(sandbox)) == 1 and not sandbox.state.api_requests("DELETE")


async def test_replicas_sharing_redis_execute_an_answer_once_2026(sandbox, replicas):
    one, two = replicas

    async def never(ctx, params) -> ElicitResult:
        raise AssertionError("driven by hand below")

    async with (
        connect(one, TOKEN_1, elicitation_callback=never) as c1,
        connect(two, TOKEN_1, elicitation_callback=never) as c2,
    ):
        asked = await c1.session.call_tool("reset_user_password", RESET, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        (key,) = asked.input_requests
        yes = {key: ElicitResult(action="accept", content={"confirm": True})}
        answers = [
            await c.session.call_tool(
                "reset_user_password", RESET, input_responses=yes, request_state=asked.request_state
            )
            for c in (c2, c1, c2)
        ]
    assert [a.is_error for a in answers] == [False, True, True]
    assert all(USED in a.content[0].text for a in answers[1:])
    assert len(resets(sandbox)) == 1
