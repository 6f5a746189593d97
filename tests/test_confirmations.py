"""Confirmation before destructive operations, asserted on the sandbox's state: elicitation
(accept / decline / cancel) when the client can ask the human, tokens when it cannot."""

from __future__ import annotations

import time

import pytest
from mcp import Client, types

from gigstack_mcp.guards.confirm import ConfirmationError, check_token, issue_token
from gigstack_mcp.server import build_server

from .conftest import call_err, call_ok, make_settings

pytestmark = pytest.mark.anyio
TEAM = "team_sandbox"


def answering(action: str, confirm: bool = True, seen: list | None = None):
    async def callback(ctx, params):
        if seen is not None:
            seen.append(params.message)
        if action == "accept":
            return types.ElicitResult(action="accept", content={"confirm": confirm})
        return types.ElicitResult(action=action)

    return callback


@pytest.fixture(params=["auto", "legacy"])
def mode(request):
    return request.param


async def test_elicitation_accept_executes(sandbox, mode):
    seen: list[str] = []
    server = build_server(make_settings(sandbox))
    async with Client(server, mode=mode, elicitation_callback=answering("accept", seen=seen)) as c:
        result = await call_ok(c, "delete_client", {"id": "client_acme"})
    assert result["status"] == "done"
    assert "ACME" in seen[0]  # the human saw exactly what would be deleted
    assert sandbox.state.store.get(TEAM, "clients", "client_acme") is None


@pytest.mark.parametrize("action,confirm", [("accept", False), ("decline", True), ("cancel", True)])
async def test_elicitation_refusal_does_nothing(sandbox, mode, action, confirm):
    server = build_server(make_settings(sandbox))
    async with Client(server, mode=mode, elicitation_callback=answering(action, confirm)) as c:
        result = await call_ok(c, "delete_client", {"id": "client_acme"})
    assert result["status"] == "declined" and "Nothing was done" in result["message"]
    assert sandbox.state.store.get(TEAM, "clients", "client_acme") is not None
    assert not sandbox.state.api_requests("DELETE")


async def test_token_from_one_replica_is_honoured_by_another(sandbox):
    async with Client(build_server(make_settings(sandbox))) as a:
        first = await call_ok(a, "delete_client", {"id": "client_acme"})
    async with Client(build_server(make_settings(sandbox))) as b:  # same secret, new process state
        done = await call_ok(
            b, "delete_client", {"id": "client_acme", "confirmation_token": first["confirmation_token"]}
        )
    assert done["status"] == "done"
    assert sandbox.state.store.get(TEAM, "clients", "client_acme") is None


async def test_token_from_another_secret_is_refused(sandbox):
    async with Client(build_server(make_settings(sandbox, confirm_secret="other"))) as a:
        first = await call_ok(a, "delete_client", {"id": "client_acme"})
    async with Client(build_server(make_settings(sandbox))) as b:
        text = await call_err(
            b, "delete_client", {"id": "client_acme", "confirmation_token": first["confirmation_token"]}
        )
    assert "Nothing was done" in text
    assert sandbox.state.store.get(TEAM, "clients", "client_acme") is not None


async def test_tampered_token_is_refused(mcp, sandbox):
    first = await call_ok(mcp, "delete_client", {"id": "client_acme"})
    expires, nonce, sig = first["confirmation_token"].split(".")
    forged = f"{int(expires) + 3600}.{nonce}.{sig}"  # try to extend its life
    text = await call_err(mcp, "delete_client", {"id": "client_acme", "confirmation_token": forged})
    assert "Nothing was done" in text
    assert sandbox.state.store.get(TEAM, "clients", "client_acme") is not None


def test_tokens_bind_operation_arguments_and_expiry():
    secret = b"s"
    token, expires = issue_token(secret, "cancel_invoice", {"uuid": "A", "motive": "02"}, ttl=60, now=1000)
    assert expires == 1060
    check_token(secret, token, "cancel_invoice", {"uuid": "A", "motive": "02"}, now=1030)
    for op, args, now in [
        ("cancel_invoice", {"uuid": "B", "motive": "02"}, 1030),  # another target
        ("cancel_invoice", {"uuid": "A", "motive": "03"}, 1030),  # another motive
        ("cancel_payment", {"uuid": "A", "motive": "02"}, 1030),  # another operation
        ("cancel_invoice", {"uuid": "A", "motive": "02"}, 1061),  # expired
    ]:
        with pytest.raises(ConfirmationError):
            check_token(secret, token, op, args, now=now)
    with pytest.raises(ConfirmationError):
        check_token(secret, "garbage", "cancel_invoice", {}, now=time.time())
