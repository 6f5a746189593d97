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
import os
import platform
import re
import socket
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

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "HTTP transport"
SANDBOX_KEY = "sk_test_http_load"
TOKEN = "bench-token-5c1d0e9f8a7b6c5d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gigstack_mcp", *args],
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


def cpu_seconds(proc: subprocess.Popen) -> float | None:
    """User+system CPU time of a child so far (Linux /proc), to show each process's cost per call."""
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def cpu_ms_per_call(before: float | None, after: float | None, calls: int) -> str:
    return (
        f"{(after - before) * 1000 / calls:.2f}"
        if before is not None and after is not None and calls
        else "n/a"
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def raw_phase(base: str, workers: int, seconds: float) -> list[float]:
    """Direct GET /v2/clients?limit=5 from `workers` concurrent loops for `seconds`."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}, limits=limits, timeout=30
    ) as http:
        end = time.perf_counter() + seconds

        async def loop() -> None:
            while time.perf_counter() < end:
                t = time.perf_counter()
                r = await http.get("/clients", params={"limit": 5})
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(loop() for _ in range(workers)))
    return latencies


async def mcp_phase(url: str, sessions: int, seconds: float, mode: str) -> tuple[list[float], int, float]:
    """`sessions` concurrent MCP sessions, each calling list_clients in a loop for `seconds`."""
    latencies: list[float] = []
    errors = 0
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
        end = time.perf_counter() + seconds

        async def loop(client: Client) -> None:
            nonlocal errors
            while time.perf_counter() < end:
                t = time.perf_counter()
                result = await client.call_tool("list_clients", {"limit": 5})
                if result.is_error:
                    errors += 1
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(loop(c) for c in clients))
    return latencies, errors, setup


def row(name: str, latencies: list[float], seconds: float) -> str:
    rate = len(latencies) / seconds
    return (
        f"| {name} | {len(latencies)} | {rate:.0f} | {pct(latencies, 0.5) * 1000:.1f} | "
        f"{pct(latencies, 0.99) * 1000:.1f} |"
    )


def write_section(body: str) -> None:
    block = f"## {HEADING}\n\n{body.strip()}\n"
    text = DOC.read_text("utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = (
        pattern.sub(lambda _: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    )
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text.rstrip() + "\n", "utf-8")


async def main_async(args: argparse.Namespace) -> str:
    sb_port, mcp_port = free_port(), free_port()
    procs: list[subprocess.Popen] = []
    try:
        procs.append(spawn(["sandbox", "--port", str(sb_port), "--api-key", SANDBOX_KEY]))
        sandbox = f"http://127.0.0.1:{sb_port}/v2"
        wait_http(f"{sandbox}/clients", {"Authorization": f"Bearer {SANDBOX_KEY}"})
        server_args = ["--transport", "http", "--port", str(mcp_port), "--rate-limit", "off"]
        server_args += ["--api-url", sandbox, "--api-key", SANDBOX_KEY, "--auth-token", TOKEN]
        if args.stateless:
            server_args.append("--stateless")
        procs.append(spawn(server_args, {"GIGSTACK_CONFIRM_SECRET": "bench"}))
        wait_http(f"http://127.0.0.1:{mcp_port}/healthz")

        sb_proc, mcp_proc = procs
        c0 = cpu_seconds(sb_proc)
        raw = await raw_phase(sandbox, args.sessions, args.seconds)
        c1, m1 = cpu_seconds(sb_proc), cpu_seconds(mcp_proc)
        mcp, errors, setup = await mcp_phase(
            f"http://127.0.0.1:{mcp_port}/mcp", args.sessions, args.seconds, args.mode
        )
        c2, m2 = cpu_seconds(sb_proc), cpu_seconds(mcp_proc)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)

    raw_rate, mcp_rate = len(raw) / args.seconds, len(mcp) / args.seconds
    ratio = mcp_rate / raw_rate if raw_rate else float("nan")
    era = "2026-07-28" if args.mode == "auto" else "2025-11-25 handshake"
    lines = [
        f"{args.sessions} concurrent clients for {args.seconds:g} s each phase, loopback; sandbox and MCP "
        "server in their own processes, this process generating the load "
        f"({platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"mcp {metadata.version('mcp')}, load average {os.getloadavg()[0]:.1f} at the end). MCP: `gigstack-mcp --transport http "
        f"{'--stateless ' if args.stateless else ''}--auth-token …`, era {era}, bearer auth, JSON access "
        "log on; each `list_clients` call makes one GET to the sandbox.",
        "",
        "| path | calls | calls/s | p50 ms | p99 ms | CPU ms/call |",
        "|---|---:|---:|---:|---:|---|",
        row("direct httpx GET /v2/clients (sandbox raw)", raw, args.seconds)
        + f" sandbox {cpu_ms_per_call(c0, c1, len(raw))} |",
        row("MCP tools/call list_clients over Streamable HTTP", mcp, args.seconds)
        + f" MCP server {cpu_ms_per_call(m1, m2, len(mcp))} + sandbox {cpu_ms_per_call(c1, c2, len(mcp))} |",
        "",
        f"Ratio MCP / raw throughput: **{ratio:.2f}**. Tool errors: {errors}. Opening the "
        f"{args.sessions} sessions took {setup:.2f} s. Reproduce with `python -m benchmarks.http_load"
        f"{' --stateless' if args.stateless else ''}{' --mode legacy' if args.mode == 'legacy' else ''}`.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each phase (max 8)")
    parser.add_argument("--mode", choices=["auto", "legacy"], default="auto", help="protocol era")
    parser.add_argument("--stateless", action="store_true", help="run the server with --stateless")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 8.0)  # bounded: the whole run stays around 20 s
    body = asyncio.run(asyncio.wait_for(main_async(args), timeout=60))
    print(body)
    if args.write:
        write_section(body)
        print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
