"""Teams tools end to end (MCP client -> server -> httpx -> sandbox): Connect teams, series and folios,
settings, members. Each tool: a success, a gigstack error, and a bad argument that sends nothing."""

from __future__ import annotations

import pytest
from mcp import Client, types

from gigstack_mcp.server import build_server

from .conftest import both_eras, call_err, call_ok, call_refused, make_settings, one_era

pytestmark = [pytest.mark.anyio, one_era]

HOME = "team_sandbox"


def _team(sandbox, team_id: str = HOME) -> dict:
    return sandbox.state.store.get(HOME, "teams", team_id)


# -- reads -----------------------------------------------------------------------------------------


async def test_list_teams(mcp, sandbox):
    page = await call_ok(mcp, "list_teams", {})
    assert [t["id"] for t in page["data"]] == [HOME] and page["total_results"] == 1
    assert "team_foreign" in await call_err(mcp, "list_teams", {"team": "team_foreign"})
    await call_refused(mcp, sandbox, "list_teams", {"limit": 0}, "limit")


async def test_get_team(mcp, sandbox):
    team = await call_ok(mcp, "get_team", {"id": HOME})
    assert team["sat"]["completed"] is True
    assert {"id": "user_owner", "email": "ana.torres@demo-sandbox.example", "role": "admin"} in team[
        "members"
    ]
    text = await call_err(mcp, "get_team", {"id": "team_missing"})
    assert "404" in text and "Team not found" in text
    await call_refused(mcp, sandbox, "get_team", {"id": ""}, "id")


async def test_get_team_integrations(mcp, sandbox):
    result = await call_ok(mcp, "get_team_integrations", {})
    assert result["stripe"] == {"completed": False} and result["sat"]["completed"] is True
    assert sandbox.state.api_requests("GET", r"^/teams/integrations$")
    text = await call_err(mcp, "get_team_integrations", {"team": "team_foreign"})
    assert "403" in text and "team" in text
    await call_refused(mcp, sandbox, "get_team_integrations", {"id": HOME}, "id")


async def test_get_team_series(mcp, sandbox):
    result = await call_ok(mcp, "get_team_series", {"id": HOME})
    assert [s["series"] for s in result["data"]] == ["A", "E", "P"]
    assert "404" in await call_err(mcp, "get_team_series", {"id": "team_missing"})
    await call_refused(mcp, sandbox, "get_team_series", {}, "id")


async def test_get_team_onboarding_url(mcp, sandbox):
    result = await call_ok(mcp, "get_team_onboarding_url", {"id": HOME})
    assert f"/onboarding/{HOME}?token=" in result["url"] and result["expires_at"] > 0
    assert "404" in await call_err(mcp, "get_team_onboarding_url", {"id": "team_missing"})
    await call_refused(mcp, sandbox, "get_team_onboarding_url", {"id": ""}, "id")


# -- teams -----------------------------------------------------------------------------------------

NEW_TEAM = {
    "brand": {"alias": "Sucursal Norte"},
    "tax_id": "SNO190101AB1",
    "tax_system": "601",
    "support_email": "norte@example.com",
    "address": {"country": "MEX", "zip": "64000"},
}


async def test_create_team(mcp, sandbox):
    team = await call_ok(mcp, "create_team", {**NEW_TEAM, "generate_onboarding_url": True})
    assert team["id"].startswith("team_") and team["brand"]["alias"] == "Sucursal Norte"
    assert f"/onboarding/{team['id']}" in team["onboarding_url"]
    assert team["sat"]["completed"] is False
    assert [m["id"] for m in team["members"]] == ["user_owner"]  # the account owner, as admin
    stored = _team(sandbox, team["id"])
    assert stored["tax_id"] == "SNO190101AB1" and stored["support_email"] == "norte@example.com"
    assert team["id"] in sandbox.state.allowed_teams(HOME)


async def test_create_team_with_members(mcp, sandbox):
    team = await call_ok(
        mcp,
        "create_team",
        {"brand": {"alias": "Equipo"}, "add_members": [{"id": "user_accountant", "role": "admin"}]},
    )
    assert {"id": "user_accountant", "email": "contabilidad@demo-sandbox.example", "role": "admin"} in team[
        "members"
    ]
    copied = await call_ok(mcp, "create_team", {"brand": {"alias": "Copia"}, "add_master_team_members": True})
    assert {m["id"] for m in copied["members"]} == {"user_owner", "user_accountant"}


async def test_create_team_errors(mcp, sandbox):
    teams_before = sandbox.state.store.count(HOME, "teams")
    text = await call_err(
        mcp, "create_team", {"brand": {"alias": "X"}, "add_members": [{"id": "user_ghost"}]}
    )
    assert "404" in text and "user_ghost" in text
    assert sandbox.state.store.count(HOME, "teams") == teams_before
    await call_refused(mcp, sandbox, "create_team", {"tax_id": "SNO190101AB1"}, "brand")
    await call_refused(mcp, sandbox, "create_team", {**NEW_TEAM, "tax_id": "not-an-rfc"}, "tax_id")
    await call_refused(mcp, sandbox, "create_team", {"brand": {"alias": "X", "colour": "red"}}, "colour")
    await call_refused(mcp, sandbox, "create_team", {"brand": {"alias": ""}}, "alias")


async def test_connect_team_is_isolated_from_home(mcp, sandbox):
    team = await call_ok(mcp, "create_team", NEW_TEAM)
    tid = team["id"]
    client = await call_ok(
        mcp,
        "create_client",
        {
            "team": tid,
            "legal_name": "CLIENTE NORTE",
            "tax_id": "CNO010101AA1",
            "tax_system": "601",
            "address": {"zip": "64000"},
        },
    )
    assert sandbox.state.store.get(tid, "clients", client["id"]) is not None
    assert sandbox.state.store.get(HOME, "clients", client["id"]) is None
    theirs = await call_ok(mcp, "list_clients", {"team": tid})
    assert [c["id"] for c in theirs["data"]] == [client["id"]]
    ours = await call_ok(mcp, "list_clients", {"limit": 100})
    assert client["id"] not in {c["id"] for c in ours["data"]}
    assert sandbox.state.api_requests("POST", r"^/clients$")[-1]["query"] == {"team": tid}
    # its own series, integrations and identity
    series = await call_ok(mcp, "get_team_series", {"id": tid})
    assert [(s["series"], s["test"]) for s in series["data"]] == [("A", 1), ("E", 1), ("P", 1)]
    integrations = await call_ok(mcp, "get_team_integrations", {"team": tid})
    assert integrations["sat"]["completed"] is False
    listed = await call_ok(mcp, "list_teams", {"team": tid})
    assert {t["id"] for t in listed["data"]} == {HOME, tid}


async def test_team_the_key_does_not_own_is_an_actionable_403(mcp, sandbox):
    text = await call_err(mcp, "list_clients", {"team": "team_of_someone_else"})
    assert "403" in text and "team_of_someone_else" in text and "`team` argument" in text
    assert sandbox.state.api_requests("GET", r"^/clients$")[-1]["status"] == 403
    text = await call_err(mcp, "create_team_series", {"id": HOME, "series": "Z", "team": "team_nope"})
    assert "403" in text
    assert sandbox.state.store.get(HOME, "series", "series_Z") is None


async def test_update_team(mcp, sandbox):
    team = await call_ok(
        mcp,
        "update_team",
        {"id": HOME, "support_email": "help@example.com", "brand": {"alias": "Demo Norte"}},
    )
    assert team["brand"] == {"alias": "Demo Norte"}
    assert _team(sandbox)["support_email"] == "help@example.com"
    assert "404" in await call_err(mcp, "update_team", {"id": "team_missing", "support_phone": "5555555555"})
    await call_refused(mcp, sandbox, "update_team", {"id": HOME}, "at least one field")
    await call_refused(mcp, sandbox, "update_team", {"id": HOME, "tax_system": "999"}, "tax_system")


# -- series ----------------------------------------------------------------------------------------


async def test_create_team_series(mcp, sandbox):
    series = await call_ok(mcp, "create_team_series", {"id": HOME, "series": "NC", "test": 100})
    assert series == {"id": "series_NC", "series": "NC", "live": 1, "test": 100}
    assert sandbox.state.store.get(HOME, "series", "series_NC")["test"] == 100
    text = await call_err(mcp, "create_team_series", {"id": HOME, "series": "NC"})
    assert "409" in text and "already has series NC" in text
    await call_refused(mcp, sandbox, "create_team_series", {"id": HOME, "series": "nc"}, "series")


async def test_update_team_series_never_reuses_a_folio(mcp, sandbox):
    await call_ok(mcp, "create_team_series", {"id": HOME, "series": "B", "test": 5})
    # an invoice B-5 was stamped (as the invoices resource stores it)
    sandbox.state.store.put(
        HOME,
        "invoices",
        {"uuid": "inv-b-5", "series": "B", "folio_number": 5, "livemode": False},
        id_field="uuid",
    )
    text = await call_err(mcp, "update_team_series", {"id": HOME, "series_id": "series_B", "test": 5})
    assert "409" in text and "folio 5" in text and "at least 6" in text
    assert sandbox.state.store.get(HOME, "series", "series_B")["test"] == 5
    done = await call_ok(
        mcp, "update_team_series", {"id": HOME, "series_id": "series_B", "test": 6, "live": 40}
    )
    assert (done["test"], done["live"]) == (6, 40)
    assert sandbox.state.store.get(HOME, "series", "series_B")["live"] == 40
    again = await call_ok(mcp, "update_team_series", {"id": HOME, "series_id": "B", "live": 2})
    assert again["live"] == 2  # no live folio was used yet
    assert "404" in await call_err(
        mcp, "update_team_series", {"id": HOME, "series_id": "series_Q", "test": 2}
    )
    await call_refused(
        mcp, sandbox, "update_team_series", {"id": HOME, "series_id": "series_B"}, "at least one"
    )
    await call_refused(
        mcp, sandbox, "update_team_series", {"id": HOME, "series_id": "series_B", "test": 0}, "test"
    )


async def test_update_team_settings(mcp, sandbox):
    await call_ok(mcp, "create_team_series", {"id": HOME, "series": "F"})
    result = await call_ok(
        mcp,
        "update_team_settings",
        {"id": HOME, "settings": {"use": "G03", "default_series": {"income": {"serie": "F"}}}},
    )
    assert result["settings"]["use"] == "G03"
    stored = _team(sandbox)["settings"]
    assert stored["default_series"]["income"] == {"serie": "F"}
    assert stored["default_series"]["credit_note"] == {"serie": "E"}  # partial: the rest is kept
    text = await call_err(
        mcp, "update_team_settings", {"id": HOME, "settings": {"default_series": {"income": {"serie": "ZZ"}}}}
    )
    assert "400" in text and "ZZ" in text
    text = await call_err(mcp, "update_team_settings", {"id": HOME, "settings": {"colour": "red"}})
    assert "settings.colour: unknown key; settings takes: default_description" in text  # nothing sent
    await call_refused(mcp, sandbox, "update_team_settings", {"id": HOME, "settings": {}}, "settings")


# -- members ---------------------------------------------------------------------------------------


async def _new_user(mcp, email: str = "nuevo@example.com") -> str:
    return (await call_ok(mcp, "create_user", {"email": email, "first_name": "Nuevo"}))["id"]


async def test_add_team_member(mcp, sandbox):
    uid = await _new_user(mcp)
    added = await call_ok(mcp, "add_team_member", {"id": HOME, "user_id": uid, "role": "editor"})
    assert added == {"team_id": HOME, "user_id": uid, "role": "editor"}
    assert {"id": uid, "email": "nuevo@example.com", "role": "editor"} in _team(sandbox)["members"]
    text = await call_err(mcp, "add_team_member", {"id": HOME, "user_id": uid})
    assert "409" in text and "already a member" in text
    assert "404" in await call_err(mcp, "add_team_member", {"id": HOME, "user_id": "user_ghost"})
    await call_refused(mcp, sandbox, "add_team_member", {"id": HOME, "user_id": uid, "role": "owner"}, "role")


@both_eras
async def test_remove_team_member_needs_confirmation(mcp, sandbox):
    first = await call_ok(mcp, "remove_team_member", {"id": HOME, "user_id": "user_accountant"})
    assert first["status"] == "confirmation_required"
    preview = first["preview"]
    assert (
        "contabilidad@demo-sandbox.example" in preview and "editor" in preview and "Demo Sandbox" in preview
    )
    assert not sandbox.state.api_requests("POST", "remove-member")
    assert any(m["id"] == "user_accountant" for m in _team(sandbox)["members"])
    done = await call_ok(
        mcp,
        "remove_team_member",
        {"id": HOME, "user_id": "user_accountant", "confirmation_token": first["confirmation_token"]},
    )
    assert done["status"] == "done" and done["result"]["user_id"] == "user_accountant"
    assert [m["id"] for m in _team(sandbox)["members"]] == ["user_owner"]
    user = await call_ok(mcp, "get_user", {"id": "user_accountant"})
    assert user["teams"] == []


@both_eras
async def test_remove_team_member_errors(mcp, sandbox):
    first = await call_ok(mcp, "remove_team_member", {"id": HOME, "user_id": "user_owner"})
    assert "admin" in first["preview"]
    text = await call_err(
        mcp,
        "remove_team_member",
        {"id": HOME, "user_id": "user_owner", "confirmation_token": first["confirmation_token"]},
    )
    assert "409" in text and "only admin" in text
    assert any(m["id"] == "user_owner" for m in _team(sandbox)["members"])
    assert "404" in await call_err(mcp, "remove_team_member", {"id": "team_missing", "user_id": "user_owner"})
    text = await call_err(mcp, "remove_team_member", {"id": HOME, "user_id": "user_ghost"})
    assert "not a member" in text and "user_owner" in text
    assert not sandbox.state.api_requests("POST", "remove-member")[1:]  # only the 409 attempt was sent
    await call_refused(mcp, sandbox, "remove_team_member", {"id": HOME}, "user_id")


@both_eras
async def test_remove_token_cannot_be_retargeted(mcp, sandbox):
    first = await call_ok(mcp, "remove_team_member", {"id": HOME, "user_id": "user_accountant"})
    text = await call_err(
        mcp,
        "remove_team_member",
        {"id": HOME, "user_id": "user_owner", "confirmation_token": first["confirmation_token"]},
    )
    assert "Nothing was done" in text
    assert not sandbox.state.api_requests("POST", "remove-member")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_remove_team_member_by_elicitation(sandbox, mode):
    seen: list[str] = []

    async def accept(ctx, params):
        seen.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with Client(build_server(make_settings(sandbox)), mode=mode, elicitation_callback=accept) as c:
        done = await call_ok(c, "remove_team_member", {"id": HOME, "user_id": "user_accountant"})
        assert done["status"] == "done"
        assert "contabilidad@demo-sandbox.example" in seen[0] and "editor" in seen[0]
        text = await call_err(c, "remove_team_member", {"id": HOME, "user_id": "user_ghost"})
    assert "not a member" in text and len(seen) == 1  # the guard refused before asking anyone
    assert [m["id"] for m in _team(sandbox)["members"]] == ["user_owner"]
