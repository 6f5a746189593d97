"""Shared fixtures: a real sandbox on 127.0.0.1, the real gigstack client, a frozen clock, and a real MCP
client session (in memory) against the real server.

- One sandbox server serves the whole session; `sandbox` resets it to a fresh seeded state before each
  test (same port, new store, no faults, empty request log). Starting and stopping uvicorn per test
  cost ~0.2 s each; sockets still carry every request.
- The clock (gigstack_mcp.clock) stands still at CLOCK_START in every test: dates never depend on when
  the suite runs. Move it with the `clock` fixture (`clock.set(...)`, `clock.advance(days=1)`).
- Protocol eras: `mcp` runs a test in both eras (2026-07-28 and the 2025-11-25 `initialize` handshake)
  unless the test or its module is marked `one_era`: tool behaviour that does not depend on the era
  runs once. `both_eras` on a test overrides a module's `one_era`. A `one_era` test that calls a
  destructive tool (confirmation by elicitation differs between the eras) fails and says to mark it.
- Slow tests (`@slow`: the soak, the deployment behind nginx, the conformance suite and Inspector) and
  fuzzing at full size run in CI (which sets CI, as GitHub Actions does; so does .ci/run), or anywhere
  with GIGSTACK_SLOW_TESTS=1. Otherwise they are reported as skipped, and the fuzz tests draw fewer
  examples per tool.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import cache
from typing import IO

import anyio
import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from mcp import Client

from gigstack_mcp.client import GigstackClient
from gigstack_mcp.clock import FrozenClock, frozen
from gigstack_mcp.sandbox._core import DEFAULT_TEAM
from gigstack_mcp.sandbox.server import SandboxServer
from gigstack_mcp.server import build_server
from gigstack_mcp.settings import Settings

# Property tests draw the same examples on every run (a seed per test, no example database): a red run
# is reproducible, and a green one does not turn red on another day by luck of the draw.
hypothesis_settings.register_profile("deterministic", derandomize=True, database=None)
hypothesis_settings.load_profile("deterministic")

API_KEY = "sk_test_fixture_key_4f1c9a"
CLOCK_START = "2026-05-14T18:00:00+00:00"  # a Thursday, noon in Mexico City: no day, month or year edge near

ERAS = ("auto", "legacy")
# Where the era makes no difference, the handshake era: its in-memory transport serializes every
# message as JSON-RPC (auto mode calls the server directly), so it checks a bit more.
ONE_ERA = ("legacy",)
both_eras = pytest.mark.eras(*ERAS)
one_era = pytest.mark.eras(*ONE_ERA)


SLOW_TOO = bool(os.environ.get("CI") or os.environ.get("GIGSTACK_SLOW_TESTS"))
slow = pytest.mark.slow


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "eras(*modes): the protocol eras the `era`/`mcp` fixtures run in")
    config.addinivalue_line("markers", "slow: runs in CI, or with GIGSTACK_SLOW_TESTS=1")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (pyproject's addopts): one worker more than the CPUs this process may use. A third of
    the suite's wall time is waiting (latency faults, timeouts, process start-ups), which the extra
    worker fills: 69 s instead of 82 s on two cores. PYTEST_XDIST_AUTO_NUM_WORKERS still decides."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus + 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SLOW_TOO:
        return
    skip = pytest.mark.skip(reason="slow: runs in CI, or here with GIGSTACK_SLOW_TESTS=1")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


def eras_of(node: pytest.Item | pytest.FunctionDefinition) -> tuple[str, ...]:
    marker = node.get_closest_marker("eras")
    return tuple(marker.args) if marker else ERAS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "era" in metafunc.fixturenames:
        metafunc.parametrize("era", eras_of(metafunc.definition), indirect=True)


@pytest.fixture
def era(request: pytest.FixtureRequest) -> str:
    """The `Client` mode: "auto" (2026-07-28) or "legacy" (2025-11-25 handshake)."""
    return request.param


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def clock() -> Iterator[FrozenClock]:
    with frozen(CLOCK_START) as stopped:
        yield stopped


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[Callable[[dict[str, str]], SandboxServer]]:
    """`sandboxes({api_key: home_team, ...})`: the session's sandbox server for that key map (started
    on first use), reset to a fresh seeded state."""
    servers: dict[tuple[tuple[str, str], ...], SandboxServer] = {}

    def fresh(keys: dict[str, str]) -> SandboxServer:
        key = tuple(sorted(keys.items()))
        if key not in servers:
            servers[key] = SandboxServer(keys).start()
        servers[key].reset()
        return servers[key]

    yield fresh
    for server in servers.values():
        server.stop()


@pytest.fixture
def sandbox(sandboxes: Callable[[dict[str, str]], SandboxServer], clock: FrozenClock) -> SandboxServer:
    """The session's sandbox, fresh: seeded at the frozen clock's time, no faults, an empty log."""
    return sandboxes({API_KEY: DEFAULT_TEAM})


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


@pytest.fixture
async def mcp(request: pytest.FixtureRequest, era: str, settings: Settings) -> AsyncIterator[Client]:
    """An MCP client session against the server, in the test's eras (see the module docstring)."""
    async with Client(build_server(settings), mode=era) as client:
        called = _record_tool_names(client)
        yield client
    _require_both_eras_for_destructive(request.node, called)


def _record_tool_names(client: Client) -> set[str]:
    called: set[str] = set()
    call_tool = client.call_tool

    async def recording(name: str, *args, **kwargs):
        called.add(name)
        return await call_tool(name, *args, **kwargs)

    client.call_tool = recording  # type: ignore[method-assign]
    return called


@cache
def _destructive_tools() -> frozenset[str]:
    from gigstack_mcp.registry import Kind
    from gigstack_mcp.tools import select

    return frozenset(s.name for s in select("all") if s.kind is Kind.DESTRUCTIVE)


def _require_both_eras_for_destructive(node: pytest.Item, called: set[str]) -> None:
    destructive = _destructive_tools()
    if len(eras_of(node)) < len(ERAS) and called & destructive:
        pytest.fail(
            f"{node.name} calls {sorted(called & destructive)}: confirmation differs between the protocol "
            "eras, so mark the test @both_eras (from tests.conftest)"
        )


async def until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Wait for `condition` (polled every 5 ms, at most `timeout` seconds), not for a guessed time."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)
    assert condition(), what


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


@contextmanager
def http_replica(sandbox: SandboxServer, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`gigstack-mcp --transport http --stateless` as its own OS process, as a replica runs, against
    `sandbox`, with these GIGSTACK_* settings added; yields its base URL and the process (killed after)."""
    with http_replicas(sandbox, env) as (running,):
        yield running


@contextmanager
def http_replicas(
    sandbox: SandboxServer, *envs: dict[str, str]
) -> Iterator[list[tuple[str, subprocess.Popen]]]:
    """One `http_replica` per entry of `envs`, started together (each start-up is ~1.5 s of CPU, mostly
    imports: on two cores they overlap); yields their (base URL, process) pairs in that order."""
    running: list[tuple[str, subprocess.Popen]] = []
    with ExitStack() as files:

        def spawn(env: dict[str, str]) -> tuple[str, subprocess.Popen, IO[bytes]]:
            port = free_port()
            full = {**os.environ, "GIGSTACK_API_URL": sandbox.url, "GIGSTACK_API_KEY": API_KEY}
            full |= {"GIGSTACK_TOOLSETS": "all", **env}
            args = ["--transport", "http", "--port", str(port), "--stateless"]
            log = files.enter_context(tempfile.TemporaryFile())
            proc = subprocess.Popen([sys.executable, "-m", "gigstack_mcp", *args], env=full, stderr=log)
            running.append((f"http://127.0.0.1:{port}", proc))
            return running[-1][0], proc, log

        try:
            started = [spawn(env) for env in envs]
            # One client for the polling: each new httpx client loads the CA bundle (~30 ms of CPU),
            # which over a second of start-up took as much CPU as the process starting
            with httpx.Client(timeout=1) as http:
                deadline = time.monotonic() + 20
                for i, env in enumerate(envs):
                    for attempt in range(3):
                        base, proc, log = started[i]
                        if _healthy(http, base, proc, deadline):
                            break
                        log.seek(0)
                        err = log.read().decode(errors="replace")
                        # Between free_port() and the child's bind, another socket (any outgoing
                        # connection on this machine) may take the port: then a new port, not a failure.
                        assert "address already in use" in err and attempt < 2, (
                            f"a replica did not start: {err}"
                        )
                        started[i] = spawn(env)
            yield [(base, proc) for base, proc, _ in started]
        finally:
            for _, proc in running:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(10)


def _healthy(http: httpx.Client, base: str, proc: subprocess.Popen, deadline: float) -> bool:
    """Poll until the process answers /healthz (True) or exits (False); fail at the deadline."""
    while proc.poll() is None:
        try:
            if http.get(f"{base}/healthz").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "a replica did not answer /healthz within 20 s"
        time.sleep(0.05)
    return False
