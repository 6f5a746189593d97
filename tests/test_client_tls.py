"""One TLS context per process: loading the CA bundle costs ~25 ms of CPU, and a server builds a gigstack
client per OAuth caller (the test suite, one per test). The clients still reach the sandbox."""

from __future__ import annotations

import httpx
import pytest

from gigstack_mcp.client import GigstackClient
from gigstack_mcp.client import _transport as transport_module

from .conftest import API_KEY

pytestmark = pytest.mark.anyio


async def test_clients_load_the_ca_bundle_once(sandbox, monkeypatch):
    loads: list[object] = []
    real = httpx.create_ssl_context

    def counting(*args, **kwargs):
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    transport_module.shared_tls.cache_clear()
    for _ in range(3):
        async with GigstackClient(API_KEY, sandbox.url) as client:
            assert (await client.get("/clients"))["data"]
    assert len(loads) == 1
