"""Load and soak: concurrent MCP sessions over Streamable HTTP making mixed tool calls against the
sandbox while it injects faults, then a reconciliation of the sandbox's state with the calls made.
Loopback only, bounded. tests/test_soak.py runs the quick mode in CI.

    python -m benchmarks.soak                  # 50 sessions x 200 calls, 5% faults (a few minutes)
    python -m benchmarks.soak --write          # and update "## Load and soak" in docs/reliability.md
    python -m benchmarks.soak --quick          # 5 sessions x 20 calls

Layout: the MCP server is `gigstack-mcp --transport http` in its own process (its RSS is the memory
measured); this process runs the sandbox (in a thread, so its fault injector and store are at hand)
and the load: half the sessions speak 2026-07-28, half the 2025-11-25 handshake. Every request the
sandbox gets may fail: 429 with Retry-After, 500/502/503, a dropped connection, malformed JSON, a slow
answer, and for POSTs a 503 or a drop after the write committed.

Passes when: 0 protocol errors; every call answered as expected (reads and creates succeed, the
deliberately invalid calls are refused before anything is sent); every create that succeeded is in
the store exactly once, under the uuid the tool returned, an explicit retry with the same key returned
the same invoice, and the store holds no other new invoice (none duplicated, none lost); and memory is
flat: the server's RSS at the end is within +10% (long run; +35% in --quick) of its level after warm-up
(the first 20% of the calls).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from benchmarks._common import free_port, pct, write_section
from gigstack_mcp.sandbox import app as sandbox_app
from gigstack_mcp.sandbox.examples import income_invoice
from gigstack_mcp.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
HEADING = "Load and soak"
KEY = "sk_test_soak_3b7c"
TOKEN = "soak-token-9d2e4f6a8b0c1e3f"
TEAM = "team_sandbox"
WARMUP = 0.2  # share of the calls after which the memory baseline is taken
FLAT_LONG, FLAT_QUICK = 0.10, 0.35  # allowed RSS growth after warm-up

INVOICE = income_invoice()
CLIENTS = ["client_acme", "client_juan_perez", "client_publico_general"]
# (weight, kind): what one call of a session is.
MIX = [
    (28, "list_clients"),
    (14, "get_client"),
    (10, "list_income_invoices"),
    (8, "get_income_invoice"),
    (5, "lookup_catalog"),
    (22, "create"),
    (5, "create_again"),  # an explicit retry of an earlier create, same idempotency key
    (5, "refused"),  # a SAT rule violation: must be refused before anything is sent
    (3, "cancel_preview"),  # destructive: must stop at the preview (nothing cancelled)
]


def fault_rules(rate: float) -> list[dict[str, Any]]:
    """Rules each with the same chance, so that a request is hit with probability `rate` overall."""
    rules: list[dict[str, Any]] = [
        {"kind": "status", "status": 429, "retry_after": 0.05},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502},
        {"kind": "status", "status": 503},
        {"kind": "drop"},
        {"kind": "malformed"},
        {"kind": "latency", "delay": 0.3},
    ]
    writes = [
        {"kind": "status", "status": 503, "after": True, "method": "POST"},
        {"kind": "drop", "after": True, "method": "POST"},
    ]
    p = 1 - (1 - rate) ** (1 / len(rules))  # GETs see the first 7 rules, POSTs all 9
    return [{**r, "times": None, "probability": p} for r in rules + writes]


# -- measurements ----------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        import psutil  # type: ignore[import-not-found]

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        pass
    except Exception:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Report:
    sessions: int
    calls_per_session: int
    fault_rate: float
    quick: bool
    seconds: float = 0.0
    calls: Counter = field(default_factory=Counter)  # per kind
    latencies: list[float] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # answers that were not what the call expects
    faults: dict[str, int] = field(default_factory=dict)
    sandbox_requests: int = 0
    creates_ok: int = 0
    replays_ok: int = 0
    reconciled: int = 0
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)  # new invoices no successful call accounts for
    cancelled: int = 0
    rss: list[tuple[float, float]] = field(default_factory=list)  # (share of calls done, MB)
    rss_warm: float | None = None
    rss_end: float | None = None

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def flat_limit(self) -> float:
        return FLAT_QUICK if self.quick else FLAT_LONG

    @property
    def growth(self) -> float | None:
        if not self.rss_warm or self.rss_end is None:
            return None
        return self.rss_end / self.rss_warm - 1

    def problems(self) -> list[str]:
        out = [f"protocol error: {e}" for e in self.protocol_errors[:5]]
        out += [f"unexpected answer: {e}" for e in self.unexpected[:5]]
        out += [f"duplicated: {k}" for k in self.duplicates[:5]] + [f"lost: {k}" for k in self.lost[:5]]
        out += [f"stray invoice: {u}" for u in self.strays[:5]]
        if self.cancelled:
            out.append(f"{self.cancelled} invoices cancelled without confirmation")
        if self.growth is None:
            out.append("server memory could not be measured")
        elif self.growth > self.flat_limit:
            out.append(
                f"server memory grew {self.growth:+.0%} after warm-up "
                f"({self.rss_warm:.1f} -> {self.rss_end:.1f} MB; limit +{self.flat_limit:.0%})"
            )
        return out

    def command(self) -> str:
        cmd = "python -m benchmarks.soak"
        if self.quick:
            return cmd + " --quick"
        if self.sessions != 50:
            cmd += f" --sessions {self.sessions}"
        if self.calls_per_session != 200:
            cmd += f" --calls {self.calls_per_session}"
        if self.fault_rate != 0.05:
            cmd += f" --fault-rate {self.fault_rate:g}"
        return cmd

    def rss_curve(self) -> str:
        """The RSS when 0, 20, ..., 100% of the calls were done (the first sample at or past each)."""
        points = []
        for q in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
            mb = next((mb for done, mb in self.rss if done >= q), self.rss_end if q == 1.0 else None)
            if mb is not None:
                points.append(f"{q:.0%} {mb:.1f}")
        return ", ".join(points) + " MB" if points else "n/a"

    def markdown(self) -> str:
        faults = sum(self.faults.values())
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        mix = ", ".join(f"{k} {v}" for k, v in sorted(self.calls.items(), key=lambda kv: -kv[1]))
        rate = self.total_calls / self.seconds if self.seconds else 0
        peak = max((mb for _, mb in self.rss), default=float("nan"))
        growth = f"{self.growth:+.1%}" if self.growth is not None else "n/a"
        verdict = "**passed**" if not self.problems() else "**FAILED**: " + "; ".join(self.problems())
        return "\n".join(
            [
                f"{self.sessions} concurrent MCP sessions x {self.calls_per_session} calls over Streamable "
                f"HTTP (half 2026-07-28, half the 2025-11-25 handshake), {self.fault_rate:.0%} of the "
                f"sandbox's requests failed on purpose; loopback, {platform.python_implementation()} "
                f"{platform.python_version()}, {os.cpu_count()} CPUs, mcp {metadata.version('mcp')}, load "
                f"average {os.getloadavg()[0]:.1f} at the end. Reproduce: `{self.command()}`. Result: {verdict}.",
                "",
                "| figure | value |",
                "|---|---|",
                f"| tool calls made | {self.total_calls} in {self.seconds:.1f} s ({rate:.0f}/s); p50 "
                f"{pct(self.latencies, 0.5) * 1000:.0f} ms, p99 {pct(self.latencies, 0.99) * 1000:.0f} ms |",
                f"| call mix | {mix} |",
                f"| requests the sandbox received | {self.sandbox_requests} |",
                f"| faults injected | {faults} ({faults / max(1, self.sandbox_requests):.1%} of requests): "
                f"{kinds} |",
                f"| protocol errors | {len(self.protocol_errors)} |",
                f"| unexpected answers | {len(self.unexpected)} |",
                f"| invoices reconciled | {self.reconciled} of {self.creates_ok} created: "
                f"{len(self.duplicates)} duplicated, {len(self.lost)} lost, {len(self.strays)} stray; "
                f"{self.replays_ok} explicit same-key retries returned the same invoice |",
                f"| server RSS | {self.rss_warm or 0:.1f} MB after warm-up ({WARMUP:.0%} of calls), "
                f"{self.rss_end or 0:.1f} MB at the end ({growth}; limit +{self.flat_limit:.0%}), peak "
                f"{peak:.1f} MB, {len(self.rss)} samples |",
                f"| server RSS as the run went on | {self.rss_curve()} |",
            ]
        )


# -- the run ---------------------------------------------------------------------------------------------


def _spawn_server(api_url: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGSTACK_")}
    env |= {
        "GIGSTACK_CONFIRM_SECRET": "soak",
        "GIGSTACK_RETRY_WAIT_INITIAL": "0.02",
        "GIGSTACK_RETRY_WAIT_MAX": "0.2",
        "GIGSTACK_TIMEOUT": "5",
    }
    args = ["--transport", "http", "--port", str(port), "--rate-limit", "off", "--toolsets", "all"]
    args += ["--api-url", api_url, "--api-key", KEY, "--auth-token", TOKEN, "--log-level", "error"]
    return subprocess.Popen(
        [sys.executable, "-m", "gigstack_mcp", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the MCP server exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


class Session:
    """One MCP session's calls: what it sent, what it got, and what it created."""

    def __init__(self, n: int, client: Client, report: Report, rng: random.Random, run_id: str):
        self.n, self.client, self.report, self.rng, self.run_id = n, client, report, rng, run_id
        self.created: dict[str, str] = {}  # idempotency key -> uuid

    async def call(self, tool: str, args: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return await self.client.call_tool(tool, args)
        except Exception as exc:  # anything but a result is a protocol error
            self.report.protocol_errors.append(f"{tool}: {type(exc).__name__}: {exc}"[:300])
            return None
        finally:
            self.report.latencies.append(time.perf_counter() - started)

    def expect(self, ok: bool, what: str, result: Any) -> None:
        if not ok:
            text = result.content[0].text if result is not None and result.content else "no result"
            self.report.unexpected.append(f"session {self.n} {what}: {text[:240]}")

    async def step(self, i: int, kind: str, shared: dict[str, str]) -> None:
        report, rng = self.report, self.rng
        report.calls[kind] += 1
        if kind == "list_clients":
            r = await self.call("list_clients", {"limit": 5})
            self.expect(r is not None and not r.is_error and r.structured_content["data"], kind, r)
        elif kind == "get_client":
            cid = rng.choice(CLIENTS)
            r = await self.call("get_client", {"id": cid})
            self.expect(r is not None and not r.is_error and r.structured_content["id"] == cid, kind, r)
        elif kind == "list_income_invoices":
            r = await self.call("list_income_invoices", {"limit": 5})
            self.expect(r is not None and not r.is_error and r.structured_content["data"], kind, r)
        elif kind == "get_income_invoice":
            uuid = rng.choice(list(self.created.values()) or list(shared.values()))
            r = await self.call("get_income_invoice", {"uuid": uuid})
            self.expect(r is not None and not r.is_error and r.structured_content["uuid"] == uuid, kind, r)
        elif kind == "lookup_catalog":
            r = await self.call("lookup_catalog", {"catalog": "uso-cfdi", "code": "G03"})
            self.expect(r is not None and not r.is_error, kind, r)
        elif kind == "create" or (kind == "create_again" and not self.created):
            key = f"soak-{self.run_id}-{self.n}-{i}"
            args = {**INVOICE, "idempotency_key": key, "metadata": {"soak": key}}
            r = await self.call("create_income_invoice", args)
            if r is not None and not r.is_error:
                self.created[key] = r.structured_content["uuid"]
                report.creates_ok += 1
            else:
                self.expect(False, f"create {key}", r)
        elif kind == "create_again":
            key = rng.choice(list(self.created))
            args = {**INVOICE, "idempotency_key": key, "metadata": {"soak": key}}
            r = await self.call("create_income_invoice", args)
            ok = r is not None and not r.is_error and r.structured_content["uuid"] == self.created[key]
            report.replays_ok += ok
            self.expect(ok, f"retry of {key} (want {self.created[key]})", r)
        elif kind == "refused":
            r = await self.call("create_income_invoice", {**INVOICE, "use": "P01"})  # voided in CFDI 4.0
            ok = r is not None and r.is_error and "Not sent to gigstack" in r.content[0].text
            self.expect(ok, "P01 must be refused before sending", r)
        elif kind == "cancel_preview":
            uuid = rng.choice(list(self.created.values()) or list(shared.values()))
            r = await self.call("cancel_invoice", {"uuid": uuid, "motive": "02"})
            ok = r is not None and not r.is_error
            ok = ok and r.structured_content["status"] == "confirmation_required"
            self.expect(ok, "cancel without confirmation must stop at the preview", r)


async def _load(base: str, report: Report, sandbox: SandboxServer, server_pid: int, seed: int) -> None:
    shared = {f"seed-{i}": d["uuid"] for i, (_, d) in enumerate(sandbox.state.store.all(TEAM, "invoices"))}
    run_id = f"{seed}{int(time.time()) % 100000}"
    total = report.sessions * report.calls_per_session
    done = [0]
    kinds = [k for _, k in MIX]
    weights = [w for w, _ in MIX]
    async with AsyncExitStack() as stack:
        sessions = []
        for n in range(report.sessions):
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            )
            mode = "auto" if n % 2 == 0 else "legacy"
            client = await stack.enter_async_context(
                Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode)
            )
            sessions.append(Session(n, client, report, random.Random(seed * 1000 + n), run_id))

        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                mb = rss_mb(server_pid)
                if mb is not None:
                    report.rss.append((done[0] / total, mb))
                    if report.rss_warm is None and done[0] >= WARMUP * total:
                        report.rss_warm = mb
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)

        async def loop(s: Session) -> None:
            for i in range(report.calls_per_session):
                await s.step(i, s.rng.choices(kinds, weights)[0], shared)
                done[0] += 1

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        await asyncio.gather(*(loop(s) for s in sessions))
        report.seconds = time.perf_counter() - started
        stop.set()
        await sampler
        report.rss_end = rss_mb(server_pid)
        if report.rss_warm is None:
            report.rss_warm = report.rss[0][1] if report.rss else None
        _reconcile(
            report, sandbox, {k: u for s in sessions for k, u in s.created.items()}, set(shared.values())
        )


def _reconcile(report: Report, sandbox: SandboxServer, created: dict[str, str], seeded: set[str]) -> None:
    """The store against the calls: each successful create once under its uuid, nothing else new."""
    docs = [d for _, d in sandbox.state.store.all(TEAM, "invoices")]
    by_key: dict[str, list[str]] = {}
    for d in docs:
        key = (d.get("metadata") or {}).get("soak")
        if key:
            by_key.setdefault(key, []).append(d["uuid"])
    for key, uuid in created.items():
        found = by_key.get(key, [])
        if len(found) > 1:
            report.duplicates.append(f"{key}: {found}")
        elif found != [uuid]:
            report.lost.append(f"{key}: want {uuid}, store has {found}")
        else:
            report.reconciled += 1
    accounted = set(created.values()) | seeded
    report.strays = [d["uuid"] for d in docs if d["uuid"] not in accounted]
    report.cancelled = sum(1 for d in docs if d["uuid"] in accounted and d.get("status") == "cancelled")


def run(
    sessions: int = 50, calls: int = 200, fault_rate: float = 0.05, seed: int = 7, quick: bool = False
) -> Report:
    report = Report(sessions, calls, fault_rate, quick)
    sandbox_app.MAX_LOG = 10_000_000  # keep every request for the count (this process only)
    with SandboxServer(KEY, fault_seed=seed) as sandbox:
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # each injected drop logs a traceback
        port = free_port()
        proc = _spawn_server(sandbox.url, port)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_up(f"{base}/healthz", proc)
            sandbox.state.faults.add(*fault_rules(fault_rate))
            budget = 120 + sessions * calls * 0.2
            asyncio.run(asyncio.wait_for(_load(base, report, sandbox, proc.pid, seed), budget))
            sandbox.state.faults.clear()
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        report.faults = dict(sandbox.state.faults.injected)
        # Faulted requests never reach the handlers (and so the log), except the commit-then-fail ones.
        before_handler = sum(
            v for k, v in report.faults.items() if not k.endswith("-after") and k != "latency"
        )
        report.sandbox_requests = len(sandbox.state.requests) + before_handler
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--calls", type=int, default=200, help="calls per session")
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="5 sessions x 20 calls (what CI runs)")
    parser.add_argument("--write", action="store_true", help=f"update docs/{DOC.name}")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.calls = 5, 20
    report = run(args.sessions, args.calls, args.fault_rate, args.seed, quick=args.quick)
    body = report.markdown()
    print(body)
    if args.write:
        write_section(DOC, HEADING, body, "# Reliability")
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    sys.exit(1 if report.problems() else 0)


if __name__ == "__main__":
    main()
