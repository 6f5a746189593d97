"""Shared fixtures: a real sandbox on 127.0.0.1, the real gigstack client, and a real MCP client
session (in memory, both protocol eras) against the real server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from mcp import Client

from gigstack_mcp.client import GigstackClient
from gigstack_mcp.sandbox.server import SandboxServer
from gigstack_mcp.server import build_server
from gigstack_mcp.settings import Settings

API_KEY = "sk_test_fixture_key_4f1c9a"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(API_KEY) as sb:
        yield sb


def make_settings(sandbox: SandboxServer, **overrides) -> Settings:
    values = dict(
        api_key=API_KEY,
        api_url=sandbox.url,
        toolsets="all",
        retry_wait_initial=0.01,
        retry_wait_max=0.05,
        max_retries=3,
        confirm_secret="test-secret",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(sandbox: SandboxServer) -> Settings:
    return make_settings(sandbox)


@pytest.fixture
async def gigstack(sandbox: SandboxServer) -> AsyncIterator[GigstackClient]:
    async with GigstackClient(API_KEY, sandbox.url, retry_wait_initial=0.01, retry_wait_max=0.05) as client:
        yield client


@pytest.fixture(params=["auto", "legacy"])
async def mcp(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Client]:
    """An MCP client session against the server, in both protocol eras (2026-07-28 and the
    2025-11-25 `initialize` handshake)."""
    async with Client(build_server(settings), mode=request.param) as client:
        yield client


async def call_ok(client: Client, name: str, args: dict | None = None) -> dict:
    """Call a tool that must succeed; return its structured content."""
    result = await client.call_tool(name, args or {})
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


async def call_err(client: Client, name: str, args: dict | None = None) -> str:
    """Call a tool that must fail with a tool error (never a protocol error); return its text."""
    result = await client.call_tool(name, args or {})
    assert result.is_error, result.structured_content
    return result.content[0].text


async def call_refused(client: Client, sandbox: SandboxServer, name: str, args: dict, *expected: str) -> None:
    """A bad argument: a tool error naming each of `expected`, and no request reaches the sandbox."""
    before = len(sandbox.state.api_requests())
    text = await call_err(client, name, args)
    for word in expected:
        assert word in text, text
    assert len(sandbox.state.api_requests()) == before


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free port (replicas share counters through it in production)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(5)
