"""Tenant boundaries of the HTTP transport, each attack of issue 12 replayed through the real server
(uvicorn on a loopback port, the SDK's Streamable HTTP client or raw httpx, the sandbox on another port):
team-pinned tokens, session caps, the failed-authentication limit and X-Forwarded-For, the per-token
limit on tool calls, the embedded sandbox's key, OAuth audiences and claim namespaces, and the logs.
Rate-limit windows run on an injected clock, never the wall clock."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest
from starlette.datastructures import Headers

from gigstack_mcp import http as gmhttp
from gigstack_mcp.context import SANDBOX_KEY
from gigstack_mcp.http import BackgroundServer, HttpConfigError, TokenMap, TrustedProxies, build_http_app
from gigstack_mcp.sandbox._seed import seed_store
from gigstack_mcp.sandbox.server import SandboxServer
from gigstack_mcp.settings import Settings

from . import test_oauth
from .conftest import API_KEY, call_err, call_ok, make_settings
from .test_http import INIT, KEY_A, KEY_B, MCP_HEADERS, TOKEN_A, TOKEN_B, connect, tokens

pytestmark = pytest.mark.anyio

PINNED = "tokP-1f2e3d4c5b6a79880a"  # the server's key, pinned to its home team
LISTED = "tokL-2a3b4c5d6e7f80912b"  # the server's key, two teams
ANY = "tokY-3c4d5e6f708192a3bc"  # the server's key, any team (explicit *)
FREE = "tokF-4d5e6f708192a3b4cd"  # the server's key, no mapping: whatever the key reaches
OTHER = "team_other"  # another team the server's key reaches (another tenant's)


class Clock:
    """The Gate's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """The server's key reaches its home team and `team_other`, each with its own seeded clients."""
    with SandboxServer({API_KEY: "team_sandbox", KEY_A: "team_a", KEY_B: "team_b"}) as sb:
        seed_store(sb.state.store, OTHER)
        sb.state.store.put("team_sandbox", "teams", {"id": OTHER, "legal_name": "OTRO INQUILINO"})
        yield sb


def tenant_tokens() -> TokenMap:
    return TokenMap.load(
        [f"{PINNED}=:team_sandbox", f"{LISTED}=:team_sandbox|{OTHER}", f"{ANY}=:team_sandbox|*", FREE]
    )


@contextmanager
def serve(
    sandbox: SandboxServer, tm: TokenMap, clock: Clock | None = None, **overrides: Any
) -> Iterator[BackgroundServer]:
    settings = make_settings(sandbox, **overrides)
    app = build_http_app(settings, tm, clock=clock or Clock())
    with BackgroundServer(app, settings) as srv:
        yield srv


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def auth(token: str) -> dict[str, str]:
    return MCP_HEADERS | {"Authorization": f"Bearer {token}"}


def other_team_requests(sandbox: SandboxServer) -> list[dict]:
    return [r for r in sandbox.state.api_requests() if r["query"].get("team") == OTHER or OTHER in r["path"]]


# -- team boundary -----------------------------------------------------------------------------------


async def test_a_pinned_token_cannot_read_or_delete_another_teams_client(sandbox, mode):
    with serve(sandbox, tenant_tokens()) as srv:
        async with connect(srv.url, FREE, mode) as free:  # the key itself does reach the other team
            assert (await call_ok(free, "get_client", {"id": "client_acme", "team": OTHER}))["id"]
        sandbox.state.requests.clear()
        async with connect(srv.url, PINNED, mode) as mcp:
            for tool, args in [
                ("get_client", {"id": "client_acme", "team": OTHER}),
                ("list_clients", {"team": OTHER}),
                ("delete_client", {"id": "client_acme", "team": OTHER}),
                ("delete_client", {"id": "client_acme", "team": OTHER, "confirmation_token": "x" * 40}),
                ("get_team", {"id": OTHER}),
                ("update_team_settings", {"id": OTHER, "settings": {"invoice_pdf_notes": "x"}}),
                ("list_teams", {}),
                ("list_users", {}),
            ]:
                text = await call_err(mcp, tool, args)
                assert "Refused (403)" in text and "Nothing was sent" in text, (tool, text)
            assert not sandbox.state.api_requests()  # nothing reached gigstack
            # its own team still works, named or not
            assert (await call_ok(mcp, "get_client", {"id": "client_acme"}))["id"] == "client_acme"
            await call_ok(mcp, "get_client", {"id": "client_acme", "team": "team_sandbox"})
            await call_ok(mcp, "get_team", {"id": "team_sandbox"})
    assert not other_team_requests(sandbox)
    assert sandbox.state.store.get(OTHER, "clients", "client_acme") is not None


async def test_the_refusal_names_the_allowed_teams(sandbox):
    with serve(sandbox, tenant_tokens()) as srv:
        async with connect(srv.url, PINNED) as mcp:
            text = await call_err(mcp, "get_client", {"id": "client_acme", "team": OTHER})
    assert "may only act on team 'team_sandbox', not 'team_other'" in text


async def test_a_token_with_a_team_list_reaches_those_teams_only(sandbox, mode):
    with serve(sandbox, tenant_tokens()) as srv:
        async with connect(srv.url, LISTED, mode) as listed, connect(srv.url, ANY, mode) as any_team:
            await call_ok(listed, "get_client", {"id": "client_acme", "team": OTHER})
            await call_ok(listed, "get_client", {"id": "client_acme"})  # the first team is the default
            before = len(sandbox.state.api_requests())
            assert "Refused (403)" in await call_err(listed, "list_clients", {"team": "team_a"})
            assert "Refused (403)" in await call_err(listed, "list_teams", {})  # account-wide
            assert len(sandbox.state.api_requests()) == before
            # `*` in the list: any team the key reaches, and account-wide tools
            await call_ok(any_team, "get_client", {"id": "client_acme", "team": OTHER})
            assert {t["id"] for t in (await call_ok(any_team, "list_teams", {}))["data"]} >= {OTHER}
    got = sandbox.state.api_requests("GET", "^/clients/client_acme$")
    assert [r["query"].get("team") for r in got] == [OTHER, "team_sandbox", OTHER]


def test_team_list_syntax():
    tm = TokenMap.load([f"{PINNED}=sk_1:a|b", f"{LISTED}=:*", f"{ANY}=sk_2:c|*", f"{FREE}=sk_3"])
    pinned, star, any_team, own = (tm.match(t).credentials for t in (PINNED, LISTED, ANY, FREE))  # type: ignore[union-attr]
    assert (pinned.team, pinned.teams) == ("a", {"a", "b"})
    assert (star.team, star.teams) == (None, None)
    assert (any_team.team, any_team.teams) == ("c", None)
    assert (own.team, own.teams) == (None, None)


# -- session caps ------------------------------------------------------------------------------------


async def test_sessions_are_capped_per_token_and_in_all(sandbox):
    with serve(sandbox, tokens(), mcp_max_sessions_per_token=2, mcp_max_sessions=3) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            a = [await http.post("/mcp", json=INIT, headers=auth(TOKEN_A)) for _ in range(3)]
            assert [r.status_code for r in a] == [200, 200, 429]
            assert a[2].json()["error"] == "too_many_sessions" and a[2].headers["retry-after"]
            assert "limit of 2 open sessions" in a[2].json()["error_description"]
            # another tenant is not affected by A's cap...
            assert (await http.post("/mcp", json=INIT, headers=auth(TOKEN_B))).status_code == 200
            # ...until the server's own cap: 3 open in all
            full = await http.post("/mcp", json=INIT, headers=auth(TOKEN_B))
            assert full.status_code == 503 and full.json()["error"] == "too_many_sessions"
            # ending a session frees its slot
            sid = a[0].headers["mcp-session-id"]
            closed = await http.delete("/mcp", headers=auth(TOKEN_A) | {"mcp-session-id": sid})
            assert closed.status_code == 200
            assert (await http.post("/mcp", json=INIT, headers=auth(TOKEN_A))).status_code == 200
            # requests inside an open session are never refused by the caps
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            inside = await http.post(
                "/mcp", json=ping, headers=auth(TOKEN_A) | {"mcp-session-id": a[1].headers["mcp-session-id"]}
            )
            assert inside.status_code == 200


async def test_parallel_opens_cannot_overshoot_the_cap(sandbox):
    with serve(sandbox, tokens(), mcp_max_sessions_per_token=3) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            codes: list[int] = []

            async def open_one() -> None:
                codes.append((await http.post("/mcp", json=INIT, headers=auth(TOKEN_A))).status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(open_one)
    assert sorted(codes) == [200] * 3 + [429] * 5


async def test_stateless_mode_has_no_sessions_to_cap(sandbox):
    with serve(sandbox, tokens(), mcp_stateless=True, mcp_max_sessions_per_token=1) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            codes = [
                (await http.post("/mcp", json=INIT, headers=auth(TOKEN_A))).status_code for _ in range(3)
            ]
    assert codes == [200, 200, 200]


# -- failed authentications and client addresses -----------------------------------------------------


class CountingTokens(TokenMap):
    """Counts look-ups: shows that a refused address never gets its token looked at."""

    lookups = 0

    def match(self, presented: str):  # type: ignore[no-untyped-def]
        self.lookups += 1
        return super().match(presented)


def from_address(address: str) -> httpx.AsyncHTTPTransport:
    """A real TCP connection from another loopback address (127.0.0.0/8 is all local on Linux)."""
    return httpx.AsyncHTTPTransport(local_address=address)


async def test_failed_authentications_are_limited_per_address(sandbox):
    clock = Clock()
    tm = CountingTokens.load([f"{TOKEN_A}={KEY_A}"])
    with serve(sandbox, tm, clock, mcp_auth_fail_limit="3/m") as srv:
        async with (
            httpx.AsyncClient(base_url=srv.url, transport=from_address("127.0.0.2")) as attacker,
            httpx.AsyncClient(base_url=srv.url, transport=from_address("127.0.0.1")) as user,
        ):
            wrong = [
                await attacker.post("/mcp", json=INIT, headers=auth(f"guess-{i:04d}-abcdefghij"))
                for i in range(5)
            ]
            assert [r.status_code for r in wrong] == [401, 401, 401, 429, 429]
            assert wrong[3].json()["error"] == "too_many_failed_authentications"
            assert int(wrong[3].headers["retry-after"]) == 20  # one attempt back every 20 s at 3/m
            assert tm.lookups == 3  # the refused ones were not even hashed
            # the refused address is refused whatever it sends, until the window passes
            assert (await attacker.post("/mcp", json=INIT, headers=auth(TOKEN_A))).status_code == 429
            # another address is not affected
            assert (await user.post("/mcp", json=INIT, headers=auth(TOKEN_A))).status_code == 200
            assert (
                await user.post("/mcp", json=INIT, headers=auth("wrong-but-long-enough"))
            ).status_code == 401
            clock.now += 20
            assert (await attacker.post("/mcp", json=INIT, headers=auth(TOKEN_A))).status_code == 200


async def test_forged_x_forwarded_for_is_ignored_without_trusted_proxies(sandbox):
    with serve(sandbox, tokens(), mcp_auth_fail_limit="2/m") as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            codes = [
                (
                    await http.post(
                        "/mcp",
                        json=INIT,
                        headers=auth("wrong-token-1234567") | {"X-Forwarded-For": f"203.0.113.{i}"},
                    )
                ).status_code
                for i in range(3)
            ]
    assert codes == [401, 401, 429]  # a new forged address per request buys nothing


async def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(sandbox):
    stream = io.StringIO()
    handler = gmhttp.json_log_handler([], stream)
    logging.getLogger().addHandler(handler)
    old = gmhttp.access_log.level
    gmhttp.access_log.setLevel(logging.INFO)
    try:
        with serve(sandbox, tokens(), mcp_auth_fail_limit="2/m", mcp_trusted_proxies="127.0.0.1/32") as srv:
            async with httpx.AsyncClient(base_url=srv.url) as proxy:
                bad = auth("wrong-token-1234567")
                # the client wrote the left part itself; the proxy appended the address it saw
                spoof = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
                codes = [
                    (await proxy.post("/mcp", json=INIT, headers=bad | spoof)).status_code for _ in range(3)
                ]
                assert codes == [401, 401, 429]
                other = {"X-Forwarded-For": "203.0.113.10"}
                assert (await proxy.post("/mcp", json=INIT, headers=auth(TOKEN_A) | other)).status_code == 200
    finally:
        logging.getLogger().removeHandler(handler)
        gmhttp.access_log.setLevel(old)
    clients = [
        json.loads(line)["client"] for line in stream.getvalue().splitlines() if "http_request" in line
    ]
    assert clients == ["203.0.113.9"] * 3 + ["203.0.113.10"]


def test_trusted_proxies_rule():
    proxies = TrustedProxies(["10.0.0.0/8", "127.0.0.1"])

    def client(peer: str, xff: str | None) -> str:
        raw = [(b"x-forwarded-for", xff.encode())] if xff else []
        return proxies.client({"client": (peer, 1)}, Headers(raw=raw))

    assert client("192.0.2.1", "203.0.113.9") == "192.0.2.1"  # not a proxy: its header is not believed
    assert client("10.1.2.3", "203.0.113.9") == "203.0.113.9"
    assert client("10.1.2.3", "203.0.113.9, 10.0.0.5") == "203.0.113.9"  # proxies in the chain skipped
    assert client("10.1.2.3", None) == "10.1.2.3"
    assert (
        TrustedProxies([]).client(
            {"client": ("127.0.0.1", 1)}, Headers(raw=[(b"x-forwarded-for", b"1.2.3.4")])
        )
        == "127.0.0.1"
    )
    with pytest.raises(HttpConfigError, match="bad trusted proxy"):
        TrustedProxies(["nginx"])


# -- the per-token limit counts tool calls -----------------------------------------------------------


async def test_session_per_call_clients_in_parallel_are_not_limited_by_their_handshakes(sandbox):
    """The LangChain pattern: each call opens a session (initialize, initialized, tools/list,
    tools/call, DELETE). Six at once under a limit of 6 tool calls all succeed; the 7th call is refused."""
    clock = Clock()  # never moves: the bucket does not refill during the test
    with serve(sandbox, tokens(), clock, mcp_rate_limit="6/m") as srv:
        results: list[Any] = []

        async def one_call() -> None:
            async with connect(srv.url, TOKEN_A, "legacy") as mcp:
                await mcp.list_tools()
                results.append(await call_ok(mcp, "list_clients", {"limit": 1}))

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(one_call)
        assert len(results) == 6
        async with httpx.AsyncClient(base_url=srv.url) as http:
            opened = await http.post("/mcp", json=INIT, headers=auth(TOKEN_A))  # not a tool call: fine
            assert opened.status_code == 200
            session = {"mcp-session-id": opened.headers["mcp-session-id"]}
            call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "list_clients"}}
            over = await http.post("/mcp", json=call, headers=auth(TOKEN_A) | session)
            assert over.status_code == 429 and over.headers["retry-after"] == "10"
    assert len(sandbox.state.api_requests("GET", "^/clients$")) == 6


async def test_a_batch_counts_each_tool_call_even_escaped(sandbox):
    with serve(sandbox, tokens(), mcp_rate_limit="3/m") as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            opened = await http.post("/mcp", json=INIT, headers=auth(TOKEN_A))
            headers = auth(TOKEN_A) | {"mcp-session-id": opened.headers["mcp-session-id"]}
            one = '{"jsonrpc": "2.0", "id": %d, "method": "tools\\/call", "params": {"name": "list_clients"}}'
            batch = "[" + ",".join(one % i for i in range(4)) + "]"  # "tools\/call" is "tools/call" in JSON
            answer = await http.post("/mcp", content=batch, headers=headers)
    assert answer.status_code == 429
    assert not sandbox.state.api_requests()
    assert gmhttp.count_tool_calls(batch.encode()) == 4 and gmhttp.count_tool_calls(b"not json") == 0


# -- the embedded sandbox's key ----------------------------------------------------------------------


async def test_http_mode_without_a_key_gives_the_embedded_sandbox_a_random_key():
    settings = Settings(api_key=None, sandbox=True, toolsets="all", confirm_secret="s", team=None)
    app = build_http_app(settings, TokenMap())
    with BackgroundServer(app, settings) as srv:
        async with connect(srv.url) as mcp:
            await call_ok(mcp, "list_clients", {"limit": 1})
        embedded = app.state.gigstack.state.sandbox
        assert embedded.api_key == SANDBOX_KEY and SANDBOX_KEY != "sk_test_sandbox"
        assert len(SANDBOX_KEY) > 30
        async with httpx.AsyncClient(base_url=embedded.url) as http:
            public = await http.get("/clients", headers={"Authorization": "Bearer sk_test_sandbox"})
            assert public.status_code == 401  # the documented public key opens nothing
            own = await http.get("/clients", headers={"Authorization": f"Bearer {SANDBOX_KEY}"})
            assert own.status_code == 200
    assert SANDBOX_KEY in gmhttp.all_secrets(settings, TokenMap())  # and it is redacted from logs


# -- OAuth: audience and claim namespaces ------------------------------------------------------------

NO_AUD = "at-no-audience-5f4e3d2c1b0a"
IMPOSTOR = "at-client-named-alice-9a8b7c6d"  # a client whose id is alice's subject
USER_NAMED_SVC = "at-user-named-svc-1b2c3d4e5f"  # a user whose subject is the service's client id


@pytest.fixture
def issuer(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[test_oauth.AuthorizationServer]:
    public = test_oauth.PUBLIC
    for token, answer in {
        NO_AUD: {"active": True, "sub": "alice@example.test", "scope": "gigstack"},
        IMPOSTOR: {"active": True, "client_id": "alice@example.test", "scope": "gigstack", "aud": public},
        USER_NAMED_SVC: {"active": True, "sub": "svc-billing", "scope": "gigstack", "aud": public},
    }.items():
        monkeypatch.setitem(test_oauth.ANSWERS, token, answer)
    auth = test_oauth.AuthorizationServer()  # test_oauth's introspection stand-in (see its docstring)
    with BackgroundServer(auth.app(), make_settings(sandbox)) as srv:
        auth.url = srv.url
        yield auth


async def test_oauth_tokens_without_audience_or_in_the_wrong_namespace_are_refused(sandbox, issuer):
    settings = test_oauth.oauth_settings(sandbox, issuer)
    with BackgroundServer(build_http_app(settings, TokenMap()), settings) as srv:
        no_aud = test_oauth.post_init(srv.url, NO_AUD)
        assert no_aud.status_code == 401 and no_aud.json()["error"] == "invalid_token"
        for token in (IMPOSTOR, USER_NAMED_SVC):  # `client:` and `sub:` entries never cross
            answer = test_oauth.post_init(srv.url, token)
            assert answer.status_code == 403 and answer.json()["error"] == "access_denied", token
        assert test_oauth.post_init(srv.url, test_oauth.SVC).status_code == 200  # client:svc-billing
        assert test_oauth.post_init(srv.url, test_oauth.ALICE).status_code == 200  # sub:alice@...
        async with connect(srv.url, test_oauth.SVC) as svc:  # pinned to team_b: a boundary too
            before = len(sandbox.state.api_requests())
            assert "Refused (403)" in await call_err(svc, "list_clients", {"team": "team_a"})
            assert len(sandbox.state.api_requests()) == before
    assert not sandbox.state.api_requests("GET", "^/clients$")


# -- logs --------------------------------------------------------------------------------------------


async def test_debug_logs_hold_no_tool_results_tokens_or_whole_session_ids(sandbox):
    stream = io.StringIO()
    tm = tokens()
    handler = gmhttp.json_log_handler(gmhttp.all_secrets(make_settings(sandbox), tm), stream)
    root = logging.getLogger()
    old_level, client_log = root.level, logging.getLogger("mcp.client")
    old_client = client_log.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    client_log.setLevel(logging.WARNING)  # the test's own MCP client runs in this process
    new = {
        "name": "Zorro Secreto",
        "legal_name": "ZORRO SECRETO",
        "tax_id": "GORL850315K29",
        "tax_system": "612",
    }
    try:
        with serve(sandbox, tm) as srv:
            for mode in ("auto", "legacy"):
                async with connect(srv.url, TOKEN_A, mode) as mcp:
                    await call_ok(mcp, "create_client", new)
                    await call_ok(mcp, "list_clients", {"query": "ZORRO"})
                    await call_err(mcp, "get_client", {"id": "client_missing_0001"})
            async with httpx.AsyncClient(base_url=srv.url) as http:
                opened = await http.post("/mcp", json=INIT, headers=auth(TOKEN_A))
                session = opened.headers["mcp-session-id"]
                ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
                stolen = await http.post(
                    "/mcp", json=ping, headers=auth(TOKEN_B) | {"mcp-session-id": session}
                )
                assert stolen.status_code == 404
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        client_log.setLevel(old_client)
    text = stream.getvalue()
    assert session[:8] in text and session not in text  # SDK lines keep the first 8 characters only
    for leaked in ("ZORRO", "Zorro", "zorro", TOKEN_A, TOKEN_B, KEY_A, KEY_B, API_KEY):
        assert leaked not in text, leaked
    assert "Tool 'get_client' failed" in text  # what failed is still there, without its text
