"""One Redis client per server (issue 16): the spent confirmations and the spend policy's cap counters
share it. Through a real MCP session against a redis-server of the test's own (its connections are this
server's alone): a confirmed refund spends its nonce and reserves its cap over one connection, where two
clients held two."""

from __future__ import annotations

import pytest
import redis.asyncio
from mcp import Client

from gigstack_mcp.server import build_server

from .conftest import call_err, call_ok, make_settings, redis_server

pytestmark = pytest.mark.anyio

REFUND = {"id": "payment_demo_transfer", "amount": 100}


async def connections(url: str) -> int:
    """Connections redis-server holds, other than this one asking."""
    async with redis.asyncio.Redis.from_url(url) as admin:
        me = await admin.client_id()
        return sum(1 for c in await admin.client_list() if int(c["id"]) != me)


async def test_confirmations_and_caps_go_through_one_redis_client(sandbox, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults.caps]\nrefunded_mxn_per_day = 150\n", encoding="utf-8")
    with redis_server() as url:
        settings = make_settings(sandbox, mcp_redis_url=url, policy=str(policy), audit_log="off")
        async with Client(build_server(settings), mode="legacy") as mcp:  # no elicitation: a token
            token = (await call_ok(mcp, "refund_payment", REFUND))["confirmation_token"]
            done = await call_ok(mcp, "refund_payment", REFUND | {"confirmation_token": token})
            assert done["status"] == "done"
            async with redis.asyncio.Redis.from_url(url) as admin:
                kinds = {k.decode().split(":")[1] for k in await admin.keys("gigstack-mcp:*")}
            assert kinds == {"spent", "cap"}  # both uses wrote to this Redis
            assert await connections(url) == 1
            # The counters live in that Redis: the cap (150) now refuses a second refund of 100.
            assert "caps.refunded_mxn_per_day" in await call_err(mcp, "refund_payment", REFUND)
        assert await connections(url) == 0  # closed with the server
