"""OAuth resource-server mode over real HTTP: the MCP server on a loopback port, the SDK's Streamable
HTTP client, the sandbox, and an authorization server's introspection endpoint (RFC 7662). That last one
is a small stand-in written here: neither the sandbox nor gigstack is an authorization server, and the
product talks to whichever one the user runs (Keycloak, Auth0...) only through this endpoint."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gigstack_mcp import http as gmhttp
from gigstack_mcp.cli import main as cli_main
from gigstack_mcp.http import BackgroundServer, TokenMap, build_http_app, json_log_handler
from gigstack_mcp.oauth import OAuthConfigError, parse_accounts
from gigstack_mcp.sandbox.server import SandboxServer

from .conftest import API_KEY, call_ok, make_settings
from .test_http import INIT, KEY_A, KEY_B, MCP_HEADERS, TOKEN_A, connect

pytestmark = pytest.mark.anyio

PUBLIC = "https://mcp.example.test/mcp"
CLIENT_ID, CLIENT_SECRET = "gigstack-mcp", "introspection-secret-9d1c"
ACCOUNTS = f"sub:alice@example.test={KEY_A},client:svc-billing={KEY_B}:team_b"
ALICE, BOB = "at-alice-6b1f0e2d9c8a7b6c", "at-bob-unmapped-5e4d3c2b1a0f"
SVC = "at-client-credentials-3f2e1d0c9b8a"
NOW = int(time.time())
ANSWERS: dict[str, dict[str, Any]] = {
    ALICE: {
        "active": True,
        "sub": "alice@example.test",
        "scope": "openid gigstack",
        "aud": PUBLIC,
        "exp": NOW + 3600,
    },
    BOB: {"active": True, "sub": "bob@example.test", "scope": "gigstack", "aud": PUBLIC, "exp": NOW + 3600},
    SVC: {"active": True, "client_id": "svc-billing", "scope": "gigstack", "aud": [PUBLIC, "other"]},
    "at-no-scope-1a2b3c4d5e6f7a8b": {
        "active": True,
        "sub": "alice@example.test",
        "scope": "openid",
        "aud": PUBLIC,
    },
    "at-expired-1a2b3c4d5e6f7a8b9": {
        "active": True,
        "sub": "alice@example.test",
        "scope": "gigstack",
        "aud": PUBLIC,
        "exp": NOW - 5,
    },
    "at-elsewhere-1a2b3c4d5e6f7a8": {
        "active": True,
        "sub": "alice@example.test",
        "scope": "gigstack",
        "aud": "https://other.example/mcp",
    },
    "at-revoked-1a2b3c4d5e6f7a8b9": {"active": False},
}


@dataclass
class AuthorizationServer:
    """The introspection endpoint: our client must authenticate; unknown tokens are inactive."""

    calls: list[str] = field(default_factory=list)
    url: str = ""

    def app(self) -> Starlette:
        async def introspect(request: Request) -> Response:
            auth = httpx.BasicAuth(CLIENT_ID, CLIENT_SECRET)
            expected = next(auth.auth_flow(httpx.Request("POST", "http://x"))).headers["Authorization"]
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "invalid_client"}, 401)
            token = str((await request.form()).get("token", ""))
            self.calls.append(token)
            return JSONResponse(ANSWERS.get(token, {"active": False}))

        return Starlette(routes=[Route("/introspect", introspect, methods=["POST"])])


@pytest.fixture
def sandbox(sandboxes, clock) -> SandboxServer:
    """Three API keys, each with its own home team (one deployment, several tenants)."""
    return sandboxes({API_KEY: "team_sandbox", KEY_A: "team_a", KEY_B: "team_b"})


@pytest.fixture
def issuer(sandbox) -> Iterator[AuthorizationServer]:
    auth = AuthorizationServer()
    with BackgroundServer(auth.app(), make_settings(sandbox)) as srv:
        auth.url = srv.url
        yield auth


def oauth_settings(sandbox: SandboxServer, issuer: AuthorizationServer, **overrides: Any):
    values: dict[str, Any] = dict(
        mcp_public_url=PUBLIC,
        mcp_oauth_issuer="https://login.example.test/realms/acme",
        mcp_oauth_introspection_url=f"{issuer.url}/introspect",
        mcp_oauth_client_id=CLIENT_ID,
        mcp_oauth_client_secret=CLIENT_SECRET,
        mcp_oauth_scopes="gigstack",
        mcp_oauth_accounts=ACCOUNTS,
    )
    return make_settings(sandbox, **(values | overrides))


@contextmanager
def serve(settings, tokens: TokenMap | None = None) -> Iterator[BackgroundServer]:
    with BackgroundServer(build_http_app(settings, tokens or TokenMap()), settings) as srv:
        yield srv


def post_init(base: str, token: str | None) -> httpx.Response:
    headers = MCP_HEADERS | ({"Authorization": f"Bearer {token}"} if token else {})
    return httpx.post(f"{base}/mcp", json=INIT, headers=headers)


# -- metadata and challenge --------------------------------------------------------------------------


async def test_protected_resource_metadata_is_public(sandbox, issuer):
    with serve(oauth_settings(sandbox, issuer)) as srv:
        for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            doc = httpx.get(f"{srv.url}{path}").json()
            assert doc["resource"] == PUBLIC
            assert doc["authorization_servers"] == ["https://login.example.test/realms/acme"]
            assert doc["scopes_supported"] == ["gigstack"] and doc["bearer_methods_supported"] == ["header"]
    assert not issuer.calls


async def test_missing_token_challenge_points_to_the_metadata(sandbox, issuer):
    with serve(oauth_settings(sandbox, issuer)) as srv:
        answer = post_init(srv.url, None)
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert (
        'resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp"' in challenge
    )
    assert 'scope="gigstack"' in challenge and "error=" not in challenge


# -- accepted tokens ---------------------------------------------------------------------------------


async def test_oauth_users_work_as_their_own_gigstack_accounts(sandbox, issuer, mode):
    with serve(oauth_settings(sandbox, issuer)) as srv:
        async with connect(srv.url, ALICE, mode) as alice, connect(srv.url, SVC, mode) as svc:
            made = await call_ok(
                alice,
                "create_client",
                {
                    "name": "De Alice",
                    "legal_name": "DE ALICE",
                    "tax_id": "GORL850315K29",
                    "tax_system": "612",
                },
            )
            assert sandbox.state.store.get("team_a", "clients", made["id"]) is not None
            assert (await call_ok(svc, "list_clients", {"query": "DE ALICE"}))["data"] == []
            for _ in range(3):
                await call_ok(alice, "list_clients", {"limit": 1})
    assert issuer.calls.count(ALICE) == 1  # one introspection, then the cached answer
    assert issuer.calls.count(SVC) == 1
    assert {r["query"].get("team") for r in sandbox.state.api_requests("GET", "^/clients")} == {
        None,
        "team_b",
    }
    assert ALICE not in json.dumps(sandbox.state.requests)  # the OAuth token never reaches gigstack


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_static_tokens_still_work_beside_oauth(sandbox, issuer):
    tokens = TokenMap.load([f"{TOKEN_A}={KEY_A}"])
    with serve(oauth_settings(sandbox, issuer), tokens) as srv:
        assert post_init(srv.url, TOKEN_A).status_code == 200
    assert not issuer.calls  # a static token is settled locally


# -- refused tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "status", "error"),
    [
        ("at-revoked-1a2b3c4d5e6f7a8b9", 401, "invalid_token"),
        ("never-issued-1a2b3c4d5e6f7a8b", 401, "invalid_token"),
        ("at-expired-1a2b3c4d5e6f7a8b9", 401, "invalid_token"),
        ("at-elsewhere-1a2b3c4d5e6f7a8", 401, "invalid_token"),  # issued for another resource
        ("at-no-scope-1a2b3c4d5e6f7a8b", 403, "insufficient_scope"),
        (BOB, 403, "access_denied"),  # valid, but no gigstack account is mapped to bob
    ],
)
async def test_refused_tokens_name_why_and_reach_nothing(sandbox, issuer, token, status, error):
    with serve(oauth_settings(sandbox, issuer)) as srv:
        answer = post_init(srv.url, token)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    if error == "access_denied":  # signing in again would not help: no challenge, no login loop
        assert "www-authenticate" not in answer.headers
    else:
        assert f'error="{error}"' in answer.headers["www-authenticate"]
        assert "resource_metadata=" in answer.headers["www-authenticate"]
    assert not sandbox.state.api_requests()


async def test_wildcard_account_takes_any_subject(sandbox, issuer):
    with serve(oauth_settings(sandbox, issuer, mcp_oauth_accounts=f"*={KEY_B}:team_b,{ACCOUNTS}")) as srv:
        async with connect(srv.url, BOB) as bob:
            await call_ok(bob, "list_clients", {"limit": 1})
    assert sandbox.state.api_requests("GET", "^/clients")[-1]["query"]["team"] == "team_b"


async def test_authorization_server_trouble_is_503_not_401(sandbox, issuer):
    # Our own client credentials rejected: the caller's token may be fine, so it must not re-login.
    with serve(oauth_settings(sandbox, issuer, mcp_oauth_client_secret="wrong-secret-123")) as srv:
        answer = post_init(srv.url, ALICE)
        assert answer.status_code == 503 and answer.headers["retry-after"]
    # Nothing listening at the introspection URL.
    with serve(oauth_settings(sandbox, issuer, mcp_oauth_introspection_url="http://127.0.0.1:9/x")) as srv:
        assert post_init(srv.url, ALICE).status_code == 503
    assert not sandbox.state.api_requests()


# -- secrets and configuration -----------------------------------------------------------------------


async def test_oauth_secrets_never_reach_the_logs(sandbox, issuer):
    settings = oauth_settings(sandbox, issuer)
    stream = io.StringIO()
    handler = json_log_handler(gmhttp.all_secrets(settings, TokenMap()), stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old = gmhttp.access_log.level
    gmhttp.access_log.setLevel(logging.INFO)
    try:
        with serve(settings) as srv:
            async with connect(srv.url, ALICE) as mcp:
                await call_ok(mcp, "list_clients", {"limit": 1})
        logging.getLogger("gigstack_mcp.test").warning("leak %s %s", CLIENT_SECRET, KEY_B)
    finally:
        root.removeHandler(handler)
        gmhttp.access_log.setLevel(old)
    text = stream.getvalue()
    access = [json.loads(line) for line in text.splitlines() if '"http_request"' in line]
    assert access and all(r["principal"].startswith("oauth_") for r in access if r["status"] == 200)
    for secret in (ALICE, CLIENT_SECRET, KEY_A, KEY_B, "alice@example.test"):
        assert secret not in text


def test_incomplete_oauth_settings_stop_the_server_with_the_missing_names(monkeypatch, capsys):
    monkeypatch.setenv("GIGSTACK_MCP_OAUTH_ISSUER", "https://login.example.test")
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--transport", "http", "--port", "1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "GIGSTACK_MCP_OAUTH_INTROSPECTION_URL" in err and "GIGSTACK_MCP_PUBLIC_URL" in err


def test_accounts_format():
    accounts = parse_accounts("sub:a=sk_1:team_x, client:b=:team_y|team_z ,*=sk_2, sub:urn:x:y=:t")
    assert accounts["sub:a"].api_key.get_secret_value() == "sk_1" and accounts["sub:a"].team == "team_x"
    assert accounts["sub:a"].teams == {"team_x"}  # pinned: a boundary, not just a default
    assert accounts["client:b"].api_key is None and accounts["client:b"].team == "team_y"
    assert accounts["client:b"].teams == {"team_y", "team_z"}
    assert accounts["*"].team is None and accounts["*"].teams is None
    assert "sub:urn:x:y" in accounts
    # a bare name is ambiguous (a user's sub or a client's id?): refused at start-up
    for bad in ("", "no-equals-sign", "=sk_1", "alice=sk_1", "user:alice=sk_1", "sub:=sk_1"):
        with pytest.raises(OAuthConfigError):
            parse_accounts(bad)


async def test_a_flood_of_unknown_tokens_is_limited_before_the_authorization_server(sandbox, issuer):
    with serve(oauth_settings(sandbox, issuer, mcp_rate_limit="3/m")) as srv:
        answers = [post_init(srv.url, f"made-up-token-{i:02d}-9f8e7d6c5b") for i in range(6)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429, 429, 429]
        assert answers[-1].headers["retry-after"]
    assert len(issuer.calls) == 3  # the other three never left the server
