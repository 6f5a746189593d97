"""Users tools end to end (MCP client -> server -> httpx -> sandbox). Each tool: a success, a gigstack
error, and a bad argument that sends nothing; the password reset only after confirmation."""

from __future__ import annotations

import pytest

from .conftest import both_eras, call_err, call_ok, call_refused, one_era

pytestmark = [pytest.mark.anyio, one_era]

HOME = "team_sandbox"
OWNER_EMAIL = "ana.torres@demo-sandbox.example"


async def test_list_users(mcp, sandbox):
    page = await call_ok(mcp, "list_users", {})
    assert {u["id"] for u in page["data"]} == {"user_owner", "user_accountant"}
    text = await call_err(mcp, "list_users", {"team": "team_foreign"})
    assert "403" in text
    await call_refused(mcp, sandbox, "list_users", {"limit": 101}, "limit")


async def test_users_are_account_level(mcp, sandbox):
    team = await call_ok(mcp, "create_team", {"brand": {"alias": "Otra"}})
    page = await call_ok(mcp, "list_users", {"team": team["id"]})
    assert {u["id"] for u in page["data"]} == {"user_owner", "user_accountant"}
    user = await call_ok(mcp, "get_user", {"id": "user_owner"})
    assert {(t["team_id"], t["role"]) for t in user["teams"]} == {(HOME, "admin"), (team["id"], "admin")}


async def test_get_user(mcp, sandbox):
    user = await call_ok(mcp, "get_user", {"id": "user_accountant"})
    assert user["name"] == "Luis Ramírez" and user["company_role"] == "Contador"
    assert user["teams"] == [{"team_id": HOME, "team_name": "Demo Sandbox", "role": "editor"}]
    text = await call_err(mcp, "get_user", {"id": "user_ghost"})
    assert "404" in text and "User not found" in text
    await call_refused(mcp, sandbox, "get_user", {"id": ""}, "id")


async def test_create_user_auto_join(mcp, sandbox):
    user = await call_ok(
        mcp,
        "create_user",
        {
            "email": "maria@example.com",
            "first_name": "María",
            "last_name": "Luna",
            "auto_join": True,
            "role": "editor",
        },
    )
    assert user["role"] == "editor" and user["invitation_sent"] is True and user["name"] == "María Luna"
    assert sandbox.state.store.get(HOME, "users", user["id"])["email"] == "maria@example.com"
    members = sandbox.state.store.get(HOME, "teams", HOME)["members"]
    assert {"id": user["id"], "email": "maria@example.com", "role": "editor"} in members


async def test_create_user_without_auto_join_only_invites(mcp, sandbox):
    user = await call_ok(mcp, "create_user", {"email": "pedro@example.com"})
    assert user.get("role") is None and user["invitation_sent"] is True
    members = sandbox.state.store.get(HOME, "teams", HOME)["members"]
    assert user["id"] not in {m["id"] for m in members}


async def test_create_user_errors(mcp, sandbox):
    users_before = sandbox.state.store.count(HOME, "users")
    text = await call_err(mcp, "create_user", {"email": OWNER_EMAIL.upper()})
    assert "409" in text and "resource_already_exists" in text
    assert sandbox.state.store.count(HOME, "users") == users_before
    await call_refused(mcp, sandbox, "create_user", {"email": "not-an-email"}, "email")
    await call_refused(mcp, sandbox, "create_user", {"email": "x@example.com", "role": "admin"}, "auto_join")


async def test_update_user(mcp, sandbox):
    user = await call_ok(
        mcp, "update_user", {"id": "user_owner", "first_name": "Anita", "phone": "+528100000000"}
    )
    assert user["name"] == "Anita Torres" and user["phone"] == "+528100000000"
    assert sandbox.state.store.get(HOME, "users", "user_owner")["first_name"] == "Anita"
    assert "404" in await call_err(mcp, "update_user", {"id": "user_ghost", "phone": "1"})
    await call_refused(mcp, sandbox, "update_user", {"id": "user_owner"}, "at least one field")


async def test_sandbox_accepts_camel_case_names(gigstack, sandbox):
    env = await gigstack.put("/users/user_owner", json={"firstName": "Ana María", "lastName": "Torres Gil"})
    assert env["data"]["name"] == "Ana María Torres Gil"


@both_eras
async def test_reset_user_password_needs_confirmation(mcp, sandbox):
    first = await call_ok(mcp, "reset_user_password", {"email": OWNER_EMAIL})
    assert first["status"] == "confirmation_required" and OWNER_EMAIL in first["preview"]
    assert not sandbox.state.api_requests("POST", r"^/users/reset-password$")
    done = await call_ok(
        mcp, "reset_user_password", {"email": OWNER_EMAIL, "confirmation_token": first["confirmation_token"]}
    )
    assert done["status"] == "done" and done["result"] == {"email": OWNER_EMAIL, "sent": True}
    sent = sandbox.state.api_requests("POST", r"^/users/reset-password$")
    assert len(sent) == 1 and sent[0]["body"] == {"email": OWNER_EMAIL} and sent[0]["status"] == 200


@both_eras
async def test_reset_user_password_errors(mcp, sandbox):
    first = await call_ok(mcp, "reset_user_password", {"email": "nobody@example.com"})
    text = await call_err(
        mcp,
        "reset_user_password",
        {"email": "nobody@example.com", "confirmation_token": first["confirmation_token"]},
    )
    assert "404" in text and "nobody@example.com" in text
    other = await call_err(
        mcp, "reset_user_password", {"email": OWNER_EMAIL, "confirmation_token": first["confirmation_token"]}
    )
    assert "Nothing was done" in other
    assert len(sandbox.state.api_requests("POST", r"^/users/reset-password$")) == 1
    await call_refused(mcp, sandbox, "reset_user_password", {"email": "nope"}, "email")
