"""The real process: `python -m gigstack_mcp` over stdio with no API key (embedded sandbox), in both
protocol eras, and the command line's other entry points."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client

pytestmark = pytest.mark.anyio

SERVER = StdioServerParameters(
    command=sys.executable,
    args=["-m", "gigstack_mcp"],
    # No GIGSTACK_* at all: the server must fall back to its embedded sandbox.
    env={k: v for k, v in os.environ.items() if not k.startswith("GIGSTACK_")},
)


class Inbox:
    """Collects what arrives besides responses; a non-protocol line on stdout shows up as an Exception."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []

    async def __call__(self, message) -> None:
        if isinstance(message, Exception):
            self.errors.append(message)


async def _exercise(session) -> None:
    tools = await session.list_tools()
    names = {t.name for t in tools.tools}
    assert {"list_clients", "create_client", "delete_client"} <= names
    ok = await session.call_tool("list_clients", {"limit": 2})
    assert not ok.is_error, ok.content[0].text
    assert ok.structured_content["total_results"] == 3 and len(ok.structured_content["data"]) == 2
    bad = await session.call_tool("list_clients", {"limit": 0})
    assert bad.is_error and "limit" in bad.content[0].text


async def test_stdio_modern_era_without_api_key():
    inbox = Inbox()
    with tempfile.TemporaryFile("w+") as errlog:
        # Client(SERVER) connects through exactly this transport; built here to capture the child's stderr
        # (stdio_client's default errlog is bound at import time, out of reach of pytest's capfd).
        async with Client(stdio_client(SERVER, errlog=errlog), message_handler=inbox) as client:
            assert client.protocol_version == "2026-07-28"
            await _exercise(client)
        errlog.seek(0)
        stderr = errlog.read()
    assert not inbox.errors  # stdout carried only protocol messages
    assert "embedded gigstack sandbox" in stderr


async def test_stdio_legacy_handshake_without_api_key():
    inbox = Inbox()
    with tempfile.TemporaryFile("w+") as errlog:
        async with (
            stdio_client(SERVER, errlog=errlog) as (read, write),
            ClientSession(read, write, message_handler=inbox) as session,
        ):
            init = await session.initialize()
            assert init.protocol_version == "2025-11-25"
            assert init.server_info.name == "gigstack"
            await _exercise(session)
        errlog.seek(0)
        stderr = errlog.read()
    assert not inbox.errors
    assert "embedded gigstack sandbox" in stderr


# -- the command line --------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("gigstack-mcp")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "gigstack_mcp"]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, env=SERVER.env
    )


def test_unknown_toolset_exits_2_listing_the_valid_ones():
    r = _cli("--toolsets", "nope")
    assert r.returncode == 2 and r.stdout == ""
    assert "unknown toolset 'nope'" in r.stderr
    assert re.search(r"valid: all, default, .*clients", r.stderr)


def test_tools_command_prints_sizes():
    r = _cli("tools")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^list_clients\s+clients\s+read\s+\d+ chars$", r.stdout, re.M)
    total = re.search(r"^(\d+) tools, (\d+) chars of schema$", r.stdout, re.M)
    assert total and int(total[1]) >= 9 and int(total[2]) > 0


def test_help():
    r = _cli("--help")
    assert r.returncode == 0 and "usage: gigstack-mcp" in r.stdout
    assert all(word in r.stdout for word in ("--toolsets", "sandbox", "demo", "tools"))
