"""HTTP transport load: 50 concurrent MCP sessions calling `list_clients` through `gigstack-mcp
--transport http`, beside the sandbox's raw throughput (direct httpx GET /v2/clients) measured in the
same run by the same load generator. Loopback only, bounded (about 20 s). Not a test.

    python -m benchmarks.http_load                 # prints the table
    python -m benchmarks.http_load --write         # and updates "## HTTP transport" in docs/benchmarks.md
    python -m benchmarks.http_load --sessions 20 --seconds 3 --mode legacy --stateless

The sandbox (`gigstack-mcp sandbox`) and the MCP server run as their own processes; this process is
the load generator (httpx for the raw phase, the SDK's Streamable HTTP client for the MCP phase).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from importlib import metadata
from pathlib import Path

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from benchmarks._common import cpu_seconds, free_port, pct, write_section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "HTTP transport"
SANDBOX_KEY = "sk_test_http_load"
TOKEN = "bench-token-5c1d0e9f8a7b6c5d"


def spawn(
    args: list[str], env: dict[str, str] | None = None, module: str = "gigstack_mcp"
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_http(url: str, headers: dict[str, str] | None = None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def cpu_ms_per_call(before: float | None, after: float | None, calls: int) -> str:
    return (
        f"{(after - before) * 1000 / calls:.2f}"
        if before is not None and after is not None and calls
        else "n/a"
    )


def lean_clients(base: str, n: int, headers: dict[str, str]) -> list[httpx.AsyncClient]:
    """One keep-alive connection per worker, as each MCP session has its own. A pool shared by 50
    workers would measure httpcore's pool instead of the server (it scans every idle connection on
    each request: ~200 calls/s with 50 keep-alive connections against ~1,000/s this way)."""
    return [httpx.AsyncClient(base_url=base, headers=headers, timeout=30) for _ in range(n)]


async def closed_loop(clients: list, call, seconds: float) -> tuple[list[float], int]:
    """Each worker sends its next call as soon as the last one answers, for `seconds`."""
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds

    async def loop(client) -> None:
        nonlocal errors
        while time.perf_counter() < end:
            t = time.perf_counter()
            ok = await call(client)
            latencies.append(time.perf_counter() - t)
            errors += not ok

    await asyncio.gather(*(loop(c) for c in clients))
    return latencies, errors


async def open_loop(clients: list, call, seconds: float, rate: float) -> tuple[list[float], int]:
    """`rate` calls/s in all, spread evenly over the workers on a fixed schedule. Latency counts from
    the scheduled send time, so a call that had to wait for a busy worker is charged for the wait
    (no coordinated omission)."""
    latencies: list[float] = []
    errors = 0
    interval = len(clients) / rate
    start = time.perf_counter() + 0.05

    async def loop(i: int, client) -> None:
        nonlocal errors
        due = start + i * interval / len(clients)  # staggered, not all at once
        while due < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            ok = await call(client)
            latencies.append(time.perf_counter() - due)
            errors += not ok
            due += interval

    await asyncio.gather(*(loop(i, c) for i, c in enumerate(clients)))
    return latencies, errors


async def raw_get(client: httpx.AsyncClient) -> bool:
    return (await client.get("/clients", params={"limit": 5})).status_code == 200


# Exactly what the SDK's client sends for this call in the 2026-07-28 era: one self-contained POST.
TOOLS_CALL = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "list_clients",
            "arguments": {"limit": 5},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "http_load", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    },
    separators=(",", ":"),
).encode()
MCP_HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "list_clients",
}


async def mcp_post(client: httpx.AsyncClient) -> bool:
    r = await client.post("/mcp", content=TOOLS_CALL)
    return r.status_code == 200 and b'"result"' in r.content and b'"isError":true' not in r.content


async def sdk_phase(url: str, sessions: int, seconds: float, mode: str) -> tuple[list[float], int, float]:
    """`sessions` SDK clients (`mcp.Client` over Streamable HTTP), each calling list_clients in a loop."""
    async with AsyncExitStack() as stack:
        t0 = time.perf_counter()
        clients = []
        for _ in range(sessions):
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            )
            transport = streamable_http_client(url, http_client=http)
            clients.append(await stack.enter_async_context(Client(transport, mode=mode)))
        setup = time.perf_counter() - t0
        await clients[0].call_tool("list_clients", {"limit": 5})  # warm the server's gigstack client

        async def call(client: Client) -> bool:
            return not (await client.call_tool("list_clients", {"limit": 5})).is_error

        latencies, errors = await closed_loop(clients, call, seconds)
    return latencies, errors, setup


def row(name: str, latencies: list[float], seconds: float) -> str:
    rate = len(latencies) / seconds
    return (
        f"| {name} | {len(latencies)} | {rate:.0f} | {pct(latencies, 0.5) * 1000:.1f} | "
        f"{pct(latencies, 0.99) * 1000:.1f} |"
    )


class Cpu:
    """CPU seconds the sandbox and the MCP server spent during one phase, per call."""

    def __init__(self, sandbox: subprocess.Popen, server: subprocess.Popen) -> None:
        self.procs = (sandbox, server)

    def __enter__(self) -> Cpu:
        self.before = [cpu_seconds(p.pid) for p in self.procs]
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = [cpu_seconds(p.pid) for p in self.procs]

    def per_call(self, calls: int) -> str:
        sandbox, server = (cpu_ms_per_call(b, a, calls) for b, a in zip(self.before, self.after, strict=True))
        return f"sandbox {sandbox}" if server in ("0.00", "n/a") else f"server {server} + sandbox {sandbox}"


async def main_async(args: argparse.Namespace) -> str:
    sb_port, mcp_port, hello_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen] = []
    rows: list[str] = []
    try:
        procs.append(spawn(["sandbox", "--port", str(sb_port), "--api-key", SANDBOX_KEY]))
        sandbox = f"http://127.0.0.1:{sb_port}/v2"
        wait_http(f"{sandbox}/clients", {"Authorization": f"Bearer {SANDBOX_KEY}"})
        server_args = ["--transport", "http", "--port", str(mcp_port), "--rate-limit", "off"]
        server_args += ["--api-url", sandbox, "--api-key", SANDBOX_KEY, "--auth-token", TOKEN]
        if args.stateless:
            server_args.append("--stateless")
        procs.append(spawn(server_args, {"GIGSTACK_CONFIRM_SECRET": "bench"}))
        hello = spawn([str(hello_port), sandbox, SANDBOX_KEY], module="benchmarks.hello_http_server")
        procs.append(hello)
        mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
        wait_http(f"http://127.0.0.1:{mcp_port}/healthz")
        wait_http(f"http://127.0.0.1:{hello_port}/mcp")
        n, secs, rate = args.sessions, args.seconds, args.rate
        raw_clients = lean_clients(sandbox, n, {"Authorization": f"Bearer {SANDBOX_KEY}"})
        mcp_clients = lean_clients(f"http://127.0.0.1:{mcp_port}", n, MCP_HEADERS)
        hello_clients = lean_clients(f"http://127.0.0.1:{hello_port}", n, MCP_HEADERS)
        await asyncio.gather(*(mcp_post(c) for c in mcp_clients + hello_clients))  # connect, warm up
        await asyncio.gather(*(raw_get(c) for c in raw_clients))

        async def phase(name: str, clients: list, call, loop_rate: float | None) -> tuple[float, float]:
            with Cpu(procs[0], hello if clients is hello_clients else procs[1]) as cpu:
                if loop_rate is None:
                    lat, errors = await closed_loop(clients, call, secs)
                else:
                    lat, errors = await open_loop(clients, call, secs, loop_rate)
            p99 = pct(lat, 0.99)
            rows.append(f"{row(name, lat, secs)} {errors} | {cpu.per_call(len(lat))} |")
            return len(lat) / secs, p99

        raw_rate, _ = await phase("raw GET /v2/clients, closed loop", raw_clients, raw_get, None)
        floor_rate, _ = await phase(
            "SDK floor: hello-world MCPServer doing the same GET, closed loop", hello_clients, mcp_post, None
        )
        mcp_rate, _ = await phase("MCP tools/call list_clients, closed loop", mcp_clients, mcp_post, None)
        await phase(f"raw GET /v2/clients, open loop {rate:g}/s", raw_clients, raw_get, rate)
        _, open_p99 = await phase(
            f"MCP tools/call list_clients, open loop {rate:g}/s", mcp_clients, mcp_post, rate
        )
        near = max(rate, round(0.7 * mcp_rate, -1))  # 70% of this run's capacity: headroom planning
        _, near_p99 = await phase(
            f"MCP tools/call list_clients, open loop {near:g}/s (70% of capacity)",
            mcp_clients,
            mcp_post,
            near,
        )
        for c in raw_clients + mcp_clients + hello_clients:
            await c.aclose()
        if args.sdk:
            with Cpu(procs[0], procs[1]) as cpu:
                lat, errors, setup = await sdk_phase(mcp_url, n, secs, args.mode)
            rows.append(
                f"{row('MCP via the SDK client (`mcp.Client`), closed loop', lat, secs)} {errors} | {cpu.per_call(len(lat))} |"
            )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)

    ratio = mcp_rate / raw_rate if raw_rate else float("nan")
    floor_ratio = floor_rate / raw_rate if raw_rate else float("nan")
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines = [
        f"{n} concurrent clients, {secs:g} s a phase, loopback; the sandbox and the MCP server each in their "
        f"own process, this process generating the load ({platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, mcp {metadata.version('mcp')}, load average "
        f"{os.getloadavg()[0]:.1f} at the end). Server: `gigstack-mcp --transport http "
        f"{'--stateless ' if args.stateless else ''}--auth-token …`, bearer auth, JSON access log on; each "
        "`list_clients` call makes one GET to the sandbox. Raw and MCP phases use the same load generator "
        "(httpx, one keep-alive connection per client); the MCP requests are the exact bytes the SDK client "
        "sends in the 2026-07-28 era (one self-contained POST per call).",
        "",
        "| phase | calls | calls/s | p50 ms | p99 ms | errors | CPU ms/call |",
        "|---|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        f"Throughput MCP / raw (closed loop): **{ratio:.2f}** (goal >= 0.60, {met(ratio >= 0.6)}); the SDK floor / raw: {floor_ratio:.2f}; "
        f"gigstack-mcp / SDK floor: **{mcp_rate / floor_rate:.2f}**. "
        f"p99 at {rate:g} calls/s offered by {n} sessions: **{open_p99 * 1000:.0f} ms** (goal <= 100 ms, "
        f"{met(open_p99 <= 0.1)}); at {near:g} calls/s: {near_p99 * 1000:.0f} ms. Reproduce with `{reproduce(args)}`.",
    ]
    return "\n".join(lines)


def reproduce(args: argparse.Namespace) -> str:
    """The command line of this run: the flags that differ from the defaults."""
    defaults = vars(build_parser().parse_args([]))
    flags = []
    for name, value in vars(args).items():
        if name == "write" or value == defaults.get(name):
            continue
        flag = "--" + name.replace("_", "-")
        flags.append(
            flag
            if value is True
            else f"--no-{name}"
            if value is False
            else f"{flag} {value:g}"
            if isinstance(value, float)
            else f"{flag} {value}"
        )
    return " ".join(["python -m benchmarks.http_load", *flags])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each phase (max 8)")
    parser.add_argument("--rate", type=float, default=100.0, help="calls/s offered in the open-loop phases")
    parser.add_argument("--sdk", action=argparse.BooleanOptionalAction, default=True, help="SDK client phase")
    parser.add_argument("--mode", choices=["auto", "legacy"], default="auto", help="era of the SDK phase")
    parser.add_argument("--stateless", action="store_true", help="run the server with --stateless")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    args.seconds = min(args.seconds, 8.0)  # bounded: the whole run stays under a minute
    body = asyncio.run(asyncio.wait_for(main_async(args), timeout=120))
    print(body)
    if args.write:
        write_section(DOC, HEADING, body)
        print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
