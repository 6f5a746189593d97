"""The HTTP load benchmark still runs end to end (its own processes, every phase, no errors), at a size
that takes seconds. What it measures is not asserted here: numbers belong in docs/benchmarks.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_http_load_benchmark_runs_every_phase_without_errors():
    args = ["--sessions", "3", "--seconds", "0.3", "--rate", "20", "--mode", "legacy"]
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.http_load", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0].removeprefix("| ").split(",")[0] for r in rows] == [
        "raw GET /v2/clients",
        "SDK floor: hello-world MCPServer doing the same GET",
        "MCP tools/call list_clients",
        "raw GET /v2/clients",
        "MCP tools/call list_clients",
        "MCP tools/call list_clients",
        "MCP via the SDK client (`mcp.Client`)",
    ]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[1]) > 0 and cells[5] == "0", row  # calls made, no errors
    assert re.search(r"Throughput MCP / raw \(closed loop\): \*\*\d\.\d\d\*\*", run.stdout)
    assert (
        "Reproduce with `python -m benchmarks.http_load --sessions 3 --seconds 0.3 --rate 20 --mode legacy`"
        in run.stdout
    )


def test_audit_cost_benchmark_runs():
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.audit_cost", "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| audit off |" in run.stdout and "fsync every record" in run.stdout
    assert re.search(r"one record \(redact, hash, write, flush\) takes \d+ µs", run.stdout)


def test_catalog_search_benchmark_runs():
    """The catalog search benchmark runs end to end (one pass over its queries) and reports every measure;
    the numbers themselves belong in docs/benchmarks.md."""
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.catalog_search", "--repeat", "1", "--no-write"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    measures = [
        line.split(" | ")[0].removeprefix("| ") for line in run.stdout.splitlines() if line.startswith("| ")
    ]
    assert measures[1:] == [
        "search p50 (goal < 5 ms)",
        "search p95 / max",
        "slowest queries (median)",
        "first search (read + index every catalog)",
        "memory after the first search",
        "package size added",
        "package installed size (gigstack_mcp/, all of it)",
        "before the first search",
    ]
    assert re.search(r"search p50 \(goal < 5 ms\) \| \d+\.\d\d ms", run.stdout)
