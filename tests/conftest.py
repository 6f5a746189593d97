"""Shared fixtures: a real sandbox on 127.0.0.1, the real gigstack client, and a real MCP client
session (in memory, both protocol eras) against the real server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

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


# -- Redis (the spent-confirmation store replicas share) ----------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server() -> Iterator[str]:
    """A real `redis-server` on a free loopback port, without persistence; yields its URL. Skipped when
    redis-server is not installed, except in CI (.ci/run installs it), where that is a failure."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server); CI runs this")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:  # up when it answers PING
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One redis-server for the whole run (tests use random nonces, so they never collide)."""
    with redis_server() as url:
        yield url
