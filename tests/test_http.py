"""The Streamable HTTP transport over real HTTP: uvicorn on a loopback port in a thread, the SDK's
Streamable HTTP client (httpx2) and raw httpx, the sandbox on another port. No mocks."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitResult

from gigstack_mcp import http as gmhttp
from gigstack_mcp.cli import main as cli_main
from gigstack_mcp.http import (
    BackgroundServer,
    HttpConfigError,
    RateLimit,
    RateLimiter,
    RedactSecrets,
    TokenMap,
    build_http_app,
    json_log_handler,
)
from gigstack_mcp.sandbox.server import SandboxServer

from .conftest import API_KEY, call_err, call_ok, http_replica, http_replicas, make_settings, until

pytestmark = pytest.mark.anyio

TOKEN_A = "tokA-8f2e0c51d94b7a36e1"
TOKEN_B = "tokB-3c9d7e21a04f58b6c2"
KEY_A, KEY_B = "sk_test_key_a_7d1e", "sk_test_key_b_2c9f"
TOKEN_SERVER = "tokS-5a1b9c8d7e6f50413a"  # no mapping: the server's own key
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


TENANT_KEYS = {API_KEY: "team_sandbox", KEY_A: "team_a", KEY_B: "team_b"}


@pytest.fixture
def sandbox(sandboxes, clock) -> SandboxServer:
    """Three API keys, each with its own home team (one deployment, several tenants)."""
    return sandboxes(TENANT_KEYS)


def tokens() -> TokenMap:
    return TokenMap.load([f"{TOKEN_A}={KEY_A}", f"{TOKEN_B}={KEY_B}:team_b", TOKEN_SERVER])


@contextmanager
def serve(sandbox: SandboxServer, tokens: TokenMap | None = None, **overrides) -> Iterator[BackgroundServer]:
    settings = make_settings(sandbox, **overrides)
    app = build_http_app(settings, tokens if tokens is not None else TokenMap())
    with BackgroundServer(app, settings) as srv:
        yield srv


@asynccontextmanager
async def connect(base: str, token: str | None = None, mode: str = "auto", **kw) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode, **kw) as client,
    ):
        yield client


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


# -- authentication ----------------------------------------------------------------------------------


async def test_valid_token_calls_tools(sandbox, mode):
    with serve(sandbox, tokens()) as srv:
        async with connect(srv.url, TOKEN_SERVER, mode) as mcp:
            page = await call_ok(mcp, "list_clients", {"limit": 2})
            assert len(page["data"]) == 2


async def test_missing_or_wrong_token_is_401_with_challenge(sandbox):
    with serve(sandbox, tokens()) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            missing = await http.post("/mcp", json=INIT, headers=MCP_HEADERS)
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = await http.post(
                "/mcp", json=INIT, headers=MCP_HEADERS | {"Authorization": f"Bearer {TOKEN_A}x"}
            )
            assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
            basic = await http.post("/mcp", json=INIT, headers=MCP_HEADERS | {"Authorization": "Basic eDp5"})
            assert basic.status_code == 401
            ok = await http.post(
                "/mcp", json=INIT, headers=MCP_HEADERS | {"Authorization": f"Bearer {TOKEN_A}"}
            )
            assert ok.status_code == 200
        with pytest.raises(Exception):  # noqa: B017 - the SDK client surfaces the 401 as an error
            async with connect(srv.url, "not-a-configured-token-123", "legacy") as mcp:
                await mcp.list_tools()
    assert not sandbox.state.api_requests()  # nothing reached gigstack


async def test_session_belongs_to_the_token_that_opened_it(sandbox):
    with serve(sandbox, tokens()) as srv:
        async with httpx.AsyncClient(base_url=srv.url, headers=MCP_HEADERS) as http:
            opened = await http.post("/mcp", json=INIT, headers={"Authorization": f"Bearer {TOKEN_A}"})
            session = opened.headers["mcp-session-id"]
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            other = await http.post(
                "/mcp", json=ping, headers={"Authorization": f"Bearer {TOKEN_B}", "mcp-session-id": session}
            )
            assert other.status_code == 404
            own = await http.post(
                "/mcp", json=ping, headers={"Authorization": f"Bearer {TOKEN_A}", "mcp-session-id": session}
            )
            assert own.status_code == 200


# -- Origin / Host -----------------------------------------------------------------------------------


async def test_foreign_origin_and_host_are_refused(sandbox):
    with serve(sandbox, tokens(), mcp_allowed_origins="https://app.example.com") as srv:
        auth = MCP_HEADERS | {"Authorization": f"Bearer {TOKEN_A}"}
        async with httpx.AsyncClient(base_url=srv.url) as http:
            evil = await http.post("/mcp", json=INIT, headers=auth | {"Origin": "http://evil.example"})
            assert evil.status_code == 403
            # refused before authentication: a page on a foreign origin learns nothing about tokens
            anon = await http.post("/mcp", json=INIT, headers=MCP_HEADERS | {"Origin": "http://evil.example"})
            assert anon.status_code == 403
            host = await http.post("/mcp", json=INIT, headers=auth | {"Host": "evil.example:80"})
            assert host.status_code == 421
            allowed = await http.post("/mcp", json=INIT, headers=auth | {"Origin": "https://app.example.com"})
            local = await http.post("/mcp", json=INIT, headers=auth | {"Origin": "http://localhost:6274"})
            assert allowed.status_code == 200 and local.status_code == 200


async def test_allowed_hosts_for_a_proxy(sandbox):
    settings = make_settings(sandbox, mcp_allowed_hosts="mcp.example.com")
    app = build_http_app(settings, tokens(), host="0.0.0.0")
    with BackgroundServer(app, settings) as srv:
        auth = MCP_HEADERS | {"Authorization": f"Bearer {TOKEN_A}"}
        async with httpx.AsyncClient(base_url=srv.url) as http:
            good = await http.post("/mcp", json=INIT, headers=auth | {"Host": "mcp.example.com"})
            bad = await http.post("/mcp", json=INIT, headers=auth | {"Host": "other.example.com"})
            assert good.status_code == 200 and bad.status_code == 421


# -- tenants -----------------------------------------------------------------------------------------


async def test_tenant_isolation(sandbox, mode):
    new = {"name": "Solo de A", "legal_name": "SOLO DE A", "tax_id": "GORL850315K29", "tax_system": "612"}
    with serve(sandbox, tokens()) as srv:
        async with connect(srv.url, TOKEN_A, mode) as a, connect(srv.url, TOKEN_B, mode) as b:
            created = await call_ok(a, "create_client", new)
            assert sandbox.state.store.get("team_a", "clients", created["id"]) is not None
            seen_a = await call_ok(a, "list_clients", {"query": "SOLO DE A"})
            assert [c["id"] for c in seen_a["data"]] == [created["id"]]
            seen_b = await call_ok(b, "list_clients", {"query": "SOLO DE A"})
            assert seen_b["data"] == []
            assert "404" in await call_err(b, "get_client", {"id": created["id"]})
    assert {r["query"].get("team") for r in sandbox.state.api_requests("GET", "^/clients")} == {
        None,
        "team_b",
    }
    log = json.dumps(sandbox.state.requests)
    assert TOKEN_A not in log and TOKEN_B not in log  # the MCP token never reaches gigstack


# -- replicas ----------------------------------------------------------------------------------------


async def test_confirmation_token_from_one_replica_is_honoured_by_another(sandbox, mode):
    with (
        serve(sandbox, tokens(), mcp_stateless=True) as one,
        serve(sandbox, tokens(), mcp_stateless=True) as two,
    ):
        async with connect(one.url, TOKEN_SERVER, mode) as c1, connect(two.url, TOKEN_SERVER, mode) as c2:
            first = await call_ok(c1, "delete_client", {"id": "client_acme"})
            assert first["status"] == "confirmation_required"
            assert not sandbox.state.api_requests("DELETE")
            done = await call_ok(
                c2, "delete_client", {"id": "client_acme", "confirmation_token": first["confirmation_token"]}
            )
            assert done["status"] == "done"
    assert sandbox.state.store.get("team_sandbox", "clients", "client_acme") is None


async def test_replica_with_another_secret_refuses_the_token(sandbox):
    with (
        serve(sandbox, tokens(), mcp_stateless=True) as one,
        serve(sandbox, tokens(), mcp_stateless=True, confirm_secret="another-secret") as two,
    ):
        async with connect(one.url, TOKEN_SERVER) as c1, connect(two.url, TOKEN_SERVER) as c2:
            first = await call_ok(c1, "delete_client", {"id": "client_acme"})
            args = {"id": "client_acme", "confirmation_token": first["confirmation_token"]}
            assert "Nothing was done" in await call_err(c2, "delete_client", args)
    assert not sandbox.state.api_requests("DELETE")


class RoundRobin(httpx2.AsyncBaseTransport):
    """A client-side load balancer: each request goes to the next replica."""

    def __init__(self, bases: list[str]) -> None:
        self.bases, self.n, self.inner = bases, 0, httpx2.AsyncHTTPTransport()
        self.hits: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        base = httpx2.URL(self.bases[self.n % len(self.bases)])
        self.n += 1
        self.hits.append(str(base))
        request.url = request.url.copy_with(host=base.host, port=base.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_elicitation_round_trip_spans_replicas(sandbox):
    """2026-07-28 elicitation: the question comes from one replica, the answer lands on the other."""

    async def yes(ctx, params) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    with (
        serve(sandbox, tokens(), mcp_stateless=True) as one,
        serve(sandbox, tokens(), mcp_stateless=True) as two,
    ):
        lb = RoundRobin([one.url, two.url])
        async with httpx2.AsyncClient(
            transport=lb, headers={"Authorization": f"Bearer {TOKEN_SERVER}"}
        ) as http:
            transport = streamable_http_client(f"{one.url}/mcp", http_client=http)
            async with Client(transport, elicitation_callback=yes) as mcp:
                done = await call_ok(mcp, "delete_client", {"id": "client_acme"})
        assert done["status"] == "done"
        assert {one.url, two.url} <= set(lb.hits)
    assert sandbox.state.store.get("team_sandbox", "clients", "client_acme") is None


def test_stateless_without_secret_warns(sandbox, capsys):
    build_http_app(make_settings(sandbox, confirm_secret=None), TokenMap(), stateless=True)
    assert "GIGSTACK_CONFIRM_SECRET" in capsys.readouterr().err
    build_http_app(make_settings(sandbox), TokenMap(), stateless=True)
    assert capsys.readouterr().err == ""


# -- shutdown, probes, limits ------------------------------------------------------------------------


async def test_graceful_shutdown_finishes_the_call_in_flight(sandbox, mode):
    settings = make_settings(sandbox, mcp_shutdown_timeout=10)
    srv = BackgroundServer(build_http_app(settings, tokens()), settings).start()
    try:
        async with connect(srv.url, TOKEN_SERVER, mode) as mcp:
            await mcp.list_tools()
            sandbox.state.faults.add({"kind": "latency", "method": "GET", "path": "^/clients", "delay": 1.0})
            result: dict = {}

            async def call() -> None:
                result.update(await call_ok(mcp, "list_clients", {"limit": 1}))

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await until(lambda: sandbox.state.in_flight > 0, "the call waits on the slow sandbox")
                srv.shutdown()  # what SIGTERM does
            assert len(result["data"]) == 1
        assert await anyio.to_thread.run_sync(srv.join, 12)  # and the server then exits
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{srv.url}/healthz")
    finally:
        srv.stop()


async def test_healthz_and_readyz(sandbox, monkeypatch):
    monkeypatch.setattr(gmhttp.app, "READY_CACHE", 0.0)  # the module that reads it
    with serve(sandbox, tokens()) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}  # no token needed
            ready = await http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            assert sandbox.state.api_requests("GET", "^/clients$")[-1]["query"] == {"limit": "1"}
            sandbox.state.faults.add({"kind": "status", "status": 503, "path": "^/clients", "times": None})
            down = await http.get("/readyz")
            assert down.status_code == 503 and "503" in down.json()["reason"]
    with serve(sandbox, tokens(), api_key="sk_wrong_key_123") as srv:
        sandbox.state.faults.clear()
        down = httpx.get(f"{srv.url}/readyz")
        assert down.status_code == 503 and "401" in down.json()["reason"]


async def test_body_size_limit(sandbox):
    with serve(sandbox, tokens(), mcp_max_body="4KB") as srv:
        auth = MCP_HEADERS | {"Authorization": f"Bearer {TOKEN_A}"}
        big = INIT | {"params": INIT["params"] | {"clientInfo": {"name": "x" * 5000, "version": "1"}}}
        async with httpx.AsyncClient(base_url=srv.url) as http:
            assert (await http.post("/mcp", json=big, headers=auth)).status_code == 413
            chunks = (json.dumps(big).encode()[i : i + 1000] for i in range(0, 6000, 1000))

            async def stream():
                for c in chunks:
                    yield c

            chunked = await http.post("/mcp", content=stream(), headers=auth)  # no Content-Length
            assert chunked.status_code == 413
            assert (await http.post("/mcp", json=INIT, headers=auth)).status_code == 200


async def test_rate_limit_per_token(sandbox):
    """The limit counts tool calls (here 2026-07-28 POSTs); other requests do not spend it."""
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "list_clients",
            "arguments": {"limit": 1},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    modern = MCP_HEADERS | {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}
    modern |= {"Mcp-Name": "list_clients"}
    with serve(sandbox, tokens(), mcp_rate_limit="3/m") as srv:
        async with httpx.AsyncClient(base_url=srv.url, headers=MCP_HEADERS) as http:
            a = {"Authorization": f"Bearer {TOKEN_A}"}
            codes = [(await http.post("/mcp", json=INIT, headers=a)).status_code for _ in range(5)]
            assert codes == [200] * 5  # not tool calls
            codes = [(await http.post("/mcp", json=call, headers=modern | a)).status_code for _ in range(3)]
            assert codes == [200, 200, 200]
            limited = await http.post("/mcp", json=call, headers=modern | a)
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            other = await http.post(
                "/mcp", json=call, headers=modern | {"Authorization": f"Bearer {TOKEN_B}"}
            )
            assert other.status_code == 200  # each token has its own bucket


def test_token_bucket_refills():
    limiter = RateLimiter(RateLimit.parse("2/s"))
    assert [limiter.take("k", 0.0), limiter.take("k", 0.0)] == [0, 0]
    assert limiter.take("k", 0.0) == pytest.approx(0.5)
    assert limiter.take("k", 0.5) == 0
    assert RateLimit.parse("off") is None and RateLimit.parse("600/m") == RateLimit(600, 60)
    with pytest.raises(HttpConfigError):
        RateLimit.parse("fast")


# -- configuration -----------------------------------------------------------------------------------


def test_tokens_file_format(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(
        f"# one entry per line\n{TOKEN_A}\n\n{TOKEN_B}=sk_live_abc:team_x\ntokC-0123456789abcdef=:team_y\n"
    )
    tm = TokenMap.load([TOKEN_SERVER], str(path))
    assert len(tm) == 4
    b = tm.match(TOKEN_B)
    assert b is not None and b.credentials.team == "team_x"
    assert b.credentials.api_key is not None and b.credentials.api_key.get_secret_value() == "sk_live_abc"
    c = tm.match("tokC-0123456789abcdef")
    assert c is not None and c.credentials.api_key is None and c.credentials.team == "team_y"
    assert tm.match(TOKEN_A).credentials.api_key is None  # type: ignore[union-attr]
    assert tm.match(TOKEN_A + "x") is None and tm.match("") is None
    assert TOKEN_A not in repr(tm.match(TOKEN_A)) and "sk_live_abc" not in repr(b)
    with pytest.raises(HttpConfigError, match="at least 16"):
        TokenMap.load(["short"])
    with pytest.raises(HttpConfigError, match="twice"):
        TokenMap.load([TOKEN_A, TOKEN_A])
    with pytest.raises(HttpConfigError, match="cannot read"):
        TokenMap.load([], str(tmp_path / "missing"))


def test_non_loopback_bind_without_tokens_is_refused(monkeypatch, capsys):
    for var in ("GIGSTACK_MCP_AUTH_TOKENS", "GIGSTACK_MCP_AUTH_TOKENS_FILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--transport", "http", "--host", "0.0.0.0", "--port", "1"])
    assert exit_.value.code == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in capsys.readouterr().err


# -- logs --------------------------------------------------------------------------------------------


async def test_logs_are_json_and_never_show_secrets(sandbox):
    stream = io.StringIO()
    tm = tokens()
    settings = make_settings(sandbox)
    handler = json_log_handler(gmhttp.all_secrets(settings, tm), stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old = gmhttp.access_log.level
    gmhttp.access_log.setLevel(logging.INFO)
    try:
        with serve(sandbox, tm) as srv:
            async with connect(srv.url, TOKEN_A) as mcp:
                await call_ok(mcp, "list_clients", {"limit": 1})
            httpx.post(f"{srv.url}/mcp", headers={"Authorization": f"Bearer {TOKEN_B}x"})
        logging.getLogger("gigstack_mcp.test").warning("oops %s with %s", TOKEN_A, KEY_B)
        try:
            raise RuntimeError(f"bad key {API_KEY} / test-secret")
        except RuntimeError:
            logging.getLogger("gigstack_mcp.test").exception("failed")
    finally:
        root.removeHandler(handler)
        gmhttp.access_log.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [r for r in lines if r.get("event") == "http_request"]
    assert access and all(r["principal"].startswith("tok_") for r in access if r["status"] == 200)
    assert any(r["status"] == 401 for r in access)
    text = stream.getvalue()
    for secret in (TOKEN_A, TOKEN_B, KEY_A, KEY_B, API_KEY, "test-secret"):
        assert secret not in text
    assert "oops [REDACTED] with [REDACTED]" in text and "bad key [REDACTED]" in text


def test_redact_filter_covers_args_fields_and_tracebacks():
    f = RedactSecrets(["s3cr3t-token-value", "tiny"])
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "a=%s", ("s3cr3t-token-value",), None)
    rec.fields = {"header": "Bearer s3cr3t-token-value", "n": 1}
    assert f.filter(rec) and rec.getMessage() == "a=[REDACTED]"
    assert rec.fields == {"header": "Bearer [REDACTED]", "n": 1}
    assert f.redact("tiny stays") == "tiny stays"  # too short to be a secret; would mangle text


# -- real processes ----------------------------------------------------------------------------------


@contextmanager
def server_process(sandbox: SandboxServer, secret: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A replica process sharing `secret`, with the server's own token."""
    with http_replica(
        sandbox,
        GIGSTACK_CONFIRM_SECRET=secret,
        GIGSTACK_MCP_AUTH_TOKENS=TOKEN_SERVER,
        GIGSTACK_MCP_SHUTDOWN_TIMEOUT="10",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def replica_pair(sandboxes) -> Iterator[tuple[str, str]]:
    """Two replica processes sharing one secret, started once for both eras' test (~1.5 s of CPU per
    start-up); all they remember is spent single-use tokens, and the sandbox is reset per test on the same
    URL."""
    env = {
        "GIGSTACK_CONFIRM_SECRET": "shared-secret-1",
        "GIGSTACK_MCP_AUTH_TOKENS": TOKEN_SERVER,
        "GIGSTACK_MCP_SHUTDOWN_TIMEOUT": "10",
    }
    with http_replicas(sandboxes(TENANT_KEYS), env, env) as [(one, _), (two, _)]:
        yield one, two


async def test_two_server_processes_share_confirmations(sandbox, replica_pair, mode):
    one, two = replica_pair
    async with connect(one, TOKEN_SERVER, mode) as c1, connect(two, TOKEN_SERVER, mode) as c2:
        first = await call_ok(c1, "delete_client", {"id": "client_acme"})
        assert first["status"] == "confirmation_required" and not sandbox.state.api_requests("DELETE")
        args = {"id": "client_acme", "confirmation_token": first["confirmation_token"]}
        assert (await call_ok(c2, "delete_client", args))["status"] == "done"
    assert sandbox.state.store.get("team_sandbox", "clients", "client_acme") is None


async def test_sigterm_lets_the_call_in_flight_finish(sandbox):
    """A real SIGTERM to a real process while a tools/call (2026-07-28: one POST) waits on gigstack."""
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "list_clients",
            "arguments": {"limit": 1},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = MCP_HEADERS | {
        "Authorization": f"Bearer {TOKEN_SERVER}",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "list_clients",
    }
    with server_process(sandbox, "secret-2") as (base, proc):
        sandbox.state.faults.add({"kind": "latency", "method": "GET", "path": "^/clients", "delay": 1.0})
        answer: list[httpx.Response] = []

        async def post() -> None:
            async with httpx.AsyncClient(timeout=20) as http:
                answer.append(await http.post(f"{base}/mcp", json=call, headers=headers))

        async with anyio.create_task_group() as tg:
            tg.start_soon(post)
            await until(lambda: sandbox.state.in_flight > 0, "the call waits on the slow sandbox")
            proc.send_signal(signal.SIGTERM)
        assert answer[0].status_code == 200
        result = answer[0].json()["result"]
        assert not result.get("isError") and len(result["structuredContent"]["data"]) == 1
        # then it exits; uvicorn re-raises the signal once it has shut down, as orchestrators expect
        assert await anyio.to_thread.run_sync(proc.wait, 15) in (0, -signal.SIGTERM)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/healthz")
