"""Benchmarks: start-up (spawn to the first `tools/list` answer over stdio, ours vs a hello-world
server on the same SDK) and per-call latency of read tools over stdio vs the same request made
directly with httpx, and `list_clients` vs the SDK floor (the smallest stdio server on the same SDK
making the same GET, benchmarks/hello_stdio_server.py), all interleaved against one sandbox. Prints a
table and writes docs/benchmarks.md.

    python -m benchmarks.run            # full run (about a minute), updates docs/benchmarks.md
    python -m benchmarks.run --quick    # a few runs, for a smoke check

The MCP client side is a minimal JSON-RPC client over the child's pipes (2025-11-25 handshake), so
the numbers are the server's cost, not a client library's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import cpu_seconds, free_port, replace_section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PROTOCOL = "2025-11-25"
BENCH_KEY = "sk_test_benchmark"
CLIENT_ID = "client_juan_perez"
STARTUP_GOAL = 1.25  # ours / hello-world, medians
LATENCY_GOAL_MS = 2.0  # p50 over stdio minus p50 direct


# -- a minimal stdio JSON-RPC client ------------------------------------------------------------------


class StdioRpc:
    """Spawns an MCP server and talks newline-delimited JSON-RPC to it over its pipes."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            bufsize=0,
        )
        self._out = self.proc.stdout
        self._id = 0

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._id += 1
        self.send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or {}})
        while True:
            line = self._out.readline()  # type: ignore[union-attr]
            if not line:
                raise RuntimeError(f"server exited (code {self.proc.poll()}) before answering {method}")
            msg = json.loads(line)
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def initialize(self) -> None:
        self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "gigstack-mcp-benchmark", "version": "0"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGSTACK_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env | extra


# -- measurements ---------------------------------------------------------------------------------------


@dataclass
class Startup:
    ours: list[float]
    hello: list[float]
    ours_tools: int
    uncached: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.hello)


def spawn_to_tools_list(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds from spawning the server to its `tools/list` answer, and the number of tools."""
    t0 = time.perf_counter()
    rpc = StdioRpc(cmd, env)
    try:
        rpc.initialize()
        tools = rpc.request("tools/list")["tools"]
        elapsed = time.perf_counter() - t0
    finally:
        rpc.close()
    return elapsed, len(tools)


OURS = [sys.executable, "-m", "gigstack_mcp"]
HELLO = [sys.executable, str(ROOT / "benchmarks" / "hello_server.py")]
FLOOR = [sys.executable, str(ROOT / "benchmarks" / "hello_stdio_server.py")]
LIST_CALL = {"name": "list_clients", "arguments": {"limit": 10}}  # the same GET /clients?limit=10 for both


def bench_startup(runs: int) -> Startup:
    """Interleaved runs of: ours, the hello-world baseline, and ours with the start-up tool cache off
    (every tool built at start-up, as before the cache; for reference)."""
    env = clean_env()  # no key: the server must pick the sandbox, lazily
    uncached_env = clean_env(GIGSTACK_TOOL_CACHE="off")
    ours: list[float] = []
    hello: list[float] = []
    uncached: list[float] = []
    variants = [(OURS, env, ours), (HELLO, env, hello), (OURS, uncached_env, uncached)]
    n_tools = spawn_to_tools_list(OURS, env)[1]  # warms the OS file cache, .pyc files, the tool cache
    spawn_to_tools_list(HELLO, env)
    for i in range(runs):
        for cmd, run_env, sink in variants[i % 3 :] + variants[: i % 3]:
            sink.append(spawn_to_tools_list(cmd, run_env)[0])
    return Startup(ours, hello, n_tools, uncached)


def startup_phases(runs: int) -> list[tuple[str, float]]:
    """Median milliseconds of each start-up phase (benchmarks/startup_phases.py, fresh processes)."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "startup_phases.py")],
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=ROOT,
            check=True,
        ).stdout
        for name, value in json.loads(out.strip().splitlines()[-1]).items():
            samples.setdefault(name, []).append(value)
    return [(name, statistics.median(values)) for name, values in samples.items()]


class SandboxProcess:
    """`gigstack-mcp sandbox --port N` as a subprocess, so it shares no GIL with either client."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v2"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gigstack_mcp",
                "sandbox",
                "--port",
                str(self.port),
                "--api-key",
                BENCH_KEY,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=clean_env(),
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.url}/clients", headers={"Authorization": f"Bearer {BENCH_KEY}"}, timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("the standalone sandbox did not start") from None
                time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Latency:
    mcp: list[float]
    direct: list[float]
    direct_async: list[float]
    server_cpu: float | None  # seconds of CPU the MCP server process used per measured call (both tools)
    mcp_list: list[float]  # list_clients over stdio MCP
    floor: list[float]  # the same call to the SDK floor server
    floor_cpu: float | None

    @property
    def floor_ratio(self) -> float:
        return pct(self.mcp_list, 50) / pct(self.floor, 50)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_latency(calls: int, warmup: int) -> Latency:
    sandbox = SandboxProcess()
    server_env = clean_env(GIGSTACK_API_URL=sandbox.url, GIGSTACK_API_KEY=BENCH_KEY)
    rpc = StdioRpc(OURS, server_env)
    floor = StdioRpc(FLOOR, server_env)
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    http = httpx.Client(headers=headers, timeout=10)
    loop = asyncio.new_event_loop()
    ahttp = httpx.AsyncClient(headers=headers, timeout=10)  # what the server itself uses
    url = f"{sandbox.url}/clients/{CLIENT_ID}"
    call = {"name": "get_client", "arguments": {"id": CLIENT_ID}}
    try:
        for server in (rpc, floor):
            server.initialize()
            server.request("tools/list")
        mcp_times, direct_times, async_times, list_times, floor_times = [], [], [], [], []
        cpu0 = floor_cpu0 = None
        for i in range(warmup + calls):
            if i == warmup:
                cpu0, floor_cpu0 = cpu_seconds(rpc.proc.pid), cpu_seconds(floor.proc.pid)
            pair = [(rpc, list_times), (floor, floor_times)]  # which goes first alternates
            for server, sink in pair if i % 2 else pair[::-1]:
                t0 = time.perf_counter()
                listed = server.request("tools/call", LIST_CALL)
                elapsed = time.perf_counter() - t0
                if listed.get("isError") or len(listed["structuredContent"]["data"]) != 3:
                    raise RuntimeError(f"list_clients failed: {listed}")
                if i >= warmup:
                    sink.append(elapsed)
            t0 = time.perf_counter()
            result = rpc.request("tools/call", call)
            t1 = time.perf_counter()
            response = http.get(url)
            t2 = time.perf_counter()
            aresponse = loop.run_until_complete(ahttp.get(url))
            t3 = time.perf_counter()
            if result.get("isError") or response.status_code != 200 or aresponse.status_code != 200:
                raise RuntimeError(f"benchmark call failed: {result} / HTTP {response.status_code}")
            if i >= warmup:
                mcp_times.append(t1 - t0)
                direct_times.append(t2 - t1)
                async_times.append(t3 - t2)
        cpu1, floor_cpu1 = cpu_seconds(rpc.proc.pid), cpu_seconds(floor.proc.pid)
        server_cpu = (cpu1 - cpu0) / (2 * calls) if cpu0 is not None and cpu1 is not None else None
        floor_cpu = (
            (floor_cpu1 - floor_cpu0) / calls if floor_cpu0 is not None and floor_cpu1 is not None else None
        )
    finally:
        http.close()
        loop.run_until_complete(ahttp.aclose())
        loop.close()
        rpc.close()
        floor.close()
        sandbox.close()
    return Latency(mcp_times, direct_times, async_times, server_cpu, list_times, floor_times, floor_cpu)


# -- report -----------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "mcp": metadata.version("mcp"),
        "os": f"{platform.system()} {platform.release()}",
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a",
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def startup_rows(s: Startup) -> list[tuple[str, ...]]:
    med_o, med_h = statistics.median(s.ours), statistics.median(s.hello)
    return (
        [
            ("hello-world MCPServer (1 tool)", ms(med_h), ms(min(s.hello)), ms(max(s.hello))),
            (
                f"gigstack-mcp, default toolsets ({s.ours_tools} tools)",
                ms(med_o),
                ms(min(s.ours)),
                ms(max(s.ours)),
            ),
            ("ratio (goal <= 1.25x)", f"{s.ratio:.2f}x {verdict(s.ratio <= STARTUP_GOAL)}", "", ""),
            (
                "for reference: gigstack-mcp, GIGSTACK_TOOL_CACHE=off",
                ms(statistics.median(s.uncached)),
                ms(min(s.uncached)),
                ms(max(s.uncached)),
            ),
            ("ratio with the cache off", f"{statistics.median(s.uncached) / med_h:.2f}x", "", ""),
        ]
        if med_h
        else []
    )


def latency_rows(lat: Latency) -> list[tuple[str, ...]]:
    p50m, p95m = pct(lat.mcp, 50), pct(lat.mcp, 95)
    p50d, p95d = pct(lat.direct, 50), pct(lat.direct, 95)
    diff = (p50m - p50d) * 1000
    return (
        [
            ("get_client over stdio MCP", ms(p50m), ms(p95m)),
            ("same GET with httpx, direct", ms(p50d), ms(p95d)),
            (
                "same GET with httpx.AsyncClient (for reference)",
                ms(pct(lat.direct_async, 50)),
                ms(pct(lat.direct_async, 95)),
            ),
            (
                "MCP overhead (goal p50 <= +2 ms)",
                f"+{diff:.2f} ms {verdict(diff <= LATENCY_GOAL_MS)}",
                f"+{(p95m - p95d) * 1000:.2f} ms",
            ),
            ("list_clients over stdio MCP", ms(pct(lat.mcp_list, 50)), ms(pct(lat.mcp_list, 95))),
            (
                "SDK floor: smallest MCPServer doing the same GET, stdio",
                ms(pct(lat.floor, 50)),
                ms(pct(lat.floor, 95)),
            ),
            (
                "list_clients / SDK floor",
                f"{lat.floor_ratio:.2f}x",
                f"{pct(lat.mcp_list, 95) / pct(lat.floor, 95):.2f}x",
            ),
        ]
        + (
            [("MCP server CPU per call (user+sys, mean)", ms(lat.server_cpu), "")]
            if lat.server_cpu is not None
            else []
        )
        + (
            [("SDK floor CPU per call (user+sys, mean)", ms(lat.floor_cpu), "")]
            if lat.floor_cpu is not None
            else []
        )
    )


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def plain(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r) for r in [header, *rows])


STARTUP_HEADER = ("spawn -> first tools/list answer", "median", "min", "max")
LATENCY_HEADER = ("per call", "p50", "p95")


def schema_sizes() -> tuple[str, int, int, int]:
    from gigstack_mcp.toolinfo import tool_sizes

    rows = tool_sizes("all")
    by_set: dict[str, list[int]] = {}
    for r in rows:
        by_set.setdefault(r["toolset"], []).append(r["chars"])
    default = sum(r["chars"] for r in tool_sizes("default"))
    lines = [
        (name, str(len(sizes)), str(sum(sizes)), str(round(sum(sizes) / len(sizes))), str(max(sizes)))
        for name, sizes in by_set.items()
    ]
    total = sum(r["chars"] for r in rows)
    lines.append(("**all**", str(len(rows)), str(total), str(round(total / max(1, len(rows)))), ""))
    md = table(("toolset", "tools", "chars", "avg/tool", "largest"), lines)
    return md, total, default, len(rows)


def dumps_sizes() -> tuple[int, int]:
    """The default and all toolsets by the budget's count before issue 13 (`json.dumps` defaults)."""
    from gigstack_mcp.registry import build_tool
    from gigstack_mcp.toolinfo import wire
    from gigstack_mcp.tools import select

    def size(toolsets: str) -> int:
        return len(json.dumps({"tools": [wire(build_tool(spec)) for spec in select(toolsets)]}))

    return size("default"), size("all")


PHASES_HEADER = ("start-up phase (in-process, median)", "ms")


def phase_rows(phases: list[tuple[str, float]]) -> list[tuple[str, ...]]:
    return [(name, f"{value:.1f}") for name, value in phases]


def write_doc(args: argparse.Namespace, s: Startup, lat: Latency, phases: list[tuple[str, float]]) -> None:
    m = machine()
    body = "\n\n".join(
        [
            "Measured with `python -m benchmarks.run`"
            + (" --quick" if args.quick else "")
            + f" on {time.strftime('%Y-%m-%d')}: {m['nproc']} CPUs ({m['cpu']}), {m['os']}, "
            f"Python {m['python']}, mcp {m['mcp']}; load average (1/5/15 min) at the end: {m['load']}.",
            f"Start-up: time from spawning the process to the first `tools/list` answer over stdio "
            f"(2025-11-25 handshake), {args.runs} runs each, interleaved. `python -m gigstack_mcp` runs "
            "with no API key, so it picks the embedded sandbox, which starts lazily on the first tool "
            "call; the baseline is `benchmarks/hello_server.py`. The last rows build every tool at start-up "
            "(the start-up tool cache off: what every start cost before the cache, and what the first "
            "start after an edit costs).",
            table(STARTUP_HEADER, startup_rows(s)),
            "Where the time goes (`benchmarks/startup_phases.py`, the same steps as `gigstack-mcp` up to a "
            "built server; the stdio loop and the first answer come after). Everything but the first row "
            "is ours. Without the start-up cache, selecting the tools means importing every tool and "
            "model module and building each tool's pydantic models and JSON schemas (~10 ms a tool).",
            table(PHASES_HEADER, phase_rows(phases)),
            f"Per call: `get_client` (id {CLIENT_ID}) over stdio, {args.calls} calls after "
            f"{args.warmup} warm-up calls, against a standalone sandbox (`gigstack-mcp sandbox`, its own "
            "process), alternating with the same `GET /v2/clients/{id}` made directly with httpx (sync client; the "
            "AsyncClient row is the async stack the server itself uses, for reference). The MCP side is a "
            "minimal JSON-RPC client over the pipes, so the overhead is the server's, not a client library's. "
            "Interleaved in the same loop: `list_clients` (limit 10) over stdio against the SDK floor, "
            "`benchmarks/hello_stdio_server.py`: the smallest stdio server on the same SDK making the same "
            "`GET /v2/clients?limit=10` with httpx (no guards, models or retries); the two alternate which "
            "goes first. Their ratio is what this server costs beyond any server on this SDK.",
            table(LATENCY_HEADER, latency_rows(lat)),
            "What changed these numbers (2026-11-25, same machine): the start-up tool cache (start-up "
            "1.83x -> 1.15x with 34 default tools; 1.34x with only the 8 clients tools before it); httpx "
            "and stamina imported with the first client instead of at start-up (~25 ms); `sniffio` as a "
            "dependency: httpcore imports it on every async lock, and without it each failed import "
            "re-scanned sys.path (A/B with two servers side by side at load ~6: p50 4.9 -> 3.4 ms, server "
            "CPU 3.5 -> 2.8 ms per call). What is left per call is the SDK's stdio transport (a "
            "worker-thread hop per line read and written) and the async httpx stack; the tool wrapper "
            "itself is ~0.2 ms.",
        ]
    )
    sizes_md, total, default, count = schema_sizes()
    old_default, old_all = dumps_sizes()
    sizes = (
        "What each toolset costs in the context window: characters of each tool as `tools/list` sends it "
        "(name, title, description, inputSchema, annotations; the SDK's compact JSON, UTF-8 text), from "
        "`gigstack_mcp.toolinfo.tool_sizes` (`gigstack-mcp tools` prints it per tool).\n\n"
        f"{sizes_md}\n\nBudget (tests/test_tool_surface.py), counted on the `tools/list` answer's tools as "
        f"sent (`toolinfo.sent_chars`): default toolsets {default:,} characters (<= 32,000, fewer than 40 "
        f"tools), all toolsets {total:,} for {count} tools (<= 56,000).\n\n"
        "How it is counted changed with issue 13. Before, the tests counted `json.dumps` of the tools with "
        "its defaults, which adds a space after every `:` and `,` and writes each accented letter as a "
        "six-character `\\u00e9` escape: about 8% more than the server sends (the stdio and HTTP "
        "transports write the SDK's `model_dump_json`, compact). The same tools by that older count: "
        f"default {old_default:,}, all {old_all:,}."
    )
    DOC.parent.mkdir(exist_ok=True)
    text = DOC.read_text("utf-8") if DOC.exists() else ""
    text = replace_section(text, "Start-up and per-call latency", body)
    text = replace_section(text, "Tool schema sizes per toolset", sizes)
    DOC.write_text(text, "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few runs only (smoke check)")
    parser.add_argument("--runs", type=int, help="start-up runs per server (default 15, quick 3)")
    parser.add_argument("--calls", type=int, help="measured calls (default 200, quick 30)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up calls (default 20)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 15)
    args.calls = args.calls or (30 if args.quick else 200)

    m = machine()
    print(f"{m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, mcp {m['mcp']}, load {m['load']}\n")
    s = bench_startup(args.runs)
    print(plain(STARTUP_HEADER, startup_rows(s)) + "\n")
    phases = startup_phases(3 if args.quick else 7)
    print(plain(PHASES_HEADER, phase_rows(phases)) + "\n")
    lat = bench_latency(args.calls, args.warmup)
    print(plain(LATENCY_HEADER, latency_rows(lat)))
    if not args.no_write:
        write_doc(args, s, lat, phases)
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
