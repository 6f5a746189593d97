"""The sandbox's shared behaviour, seen from a raw HTTP client: auth and teams, error envelopes,
contract validation, idempotent replay, list envelopes and filters, SQLite persistence, fault
injection and the admin endpoints."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from gigstack_mcp.sandbox.server import SandboxServer

from .conftest import API_KEY

TEAM = "team_sandbox"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
NEW_CLIENT = {
    "name": "Lucía Gómez",
    "legal_name": "LUCIA GOMEZ RUIZ",
    "tax_id": "GORL850315K29",
    "tax_system": "612",
    "email": "lucia@example.com",
    "address": {"zip": "06700"},
}
UNAUTHORIZED = {"message": "Unauthorized", "error": "Missing or invalid API key", "code": "unauthorized"}


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, headers=AUTH, timeout=10) as client:
        yield client


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"message", "error", "code"} and body["code"] == code
    assert isinstance(body["message"], str) and isinstance(body["error"], str)
    return body


# -- auth, teams, unknown paths ----------------------------------------------------------------------


def test_missing_or_wrong_key_is_401_in_gigstacks_shape(sandbox, http):
    assert httpx.get(f"{sandbox.url}/clients").json() == UNAUTHORIZED
    for header in ("Bearer sk_test_wrong", "sk_test_wrong", "Basic abc"):
        r = httpx.get(f"{sandbox.url}/clients", headers={"Authorization": header})
        assert assert_error(r, 401, "unauthorized") == UNAUTHORIZED
    # the docs' curl samples send the bare key: accepted too
    assert httpx.get(f"{sandbox.url}/clients", headers={"Authorization": API_KEY}).status_code == 200
    assert [r["status"] for r in sandbox.state.api_requests()] == [401, 401, 401, 401, 200]


def test_team_the_key_does_not_own_is_403(sandbox, http):
    body = assert_error(http.get("/v2/clients", params={"team": "team_someone_else"}), 403, "forbidden")
    assert "team_someone_else" in body["error"]
    assert http.get("/v2/clients", params={"team": TEAM}).status_code == 200


def test_unknown_path_and_method_are_json_errors(http):
    body = assert_error(http.get("/v2/nope"), 404, "resource_not_found")
    assert "/v2/nope" in body["error"]
    assert_error(http.get("/v2/clients/client_missing"), 404, "resource_not_found")
    assert_error(http.patch("/v2/clients"), 405, "operation_not_allowed")


# -- contract validation -----------------------------------------------------------------------------


def test_contract_violation_is_400_naming_the_field(sandbox, http):
    body = assert_error(
        http.post("/v2/clients", json={**NEW_CLIENT, "tax_system": "6O1"}), 400, "validation_failed"
    )
    assert body["message"] == "Invalid request body" and body["error"].startswith("tax_system:")
    body = assert_error(
        http.post("/v2/clients", json={**NEW_CLIENT, "address": {"zip": 6700}}), 400, "validation_failed"
    )
    assert "address.zip" in body["error"]
    body = assert_error(http.put("/v2/clients/client_acme", json={"nmae": "x"}), 400, "validation_failed")
    assert "nmae" in body["error"]
    r = http.post("/v2/clients", content=b"{not json", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in assert_error(r, 400, "validation_failed")["error"]
    assert sandbox.state.store.count(TEAM, "clients") == 3  # nothing was stored


# -- idempotency -------------------------------------------------------------------------------------


def test_idempotent_replay_returns_the_first_answer_and_stores_once(sandbox, http):
    headers = {"Idempotency-Key": "create-lucia-0001"}
    first = http.post("/v2/clients", json=NEW_CLIENT, headers=headers)
    second = http.post("/v2/clients", json={**NEW_CLIENT, "name": "Otra"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert sandbox.state.store.count(TEAM, "clients") == 4
    assert [r.get("replayed", False) for r in sandbox.state.api_requests("POST")] == [False, True]
    other = http.post("/v2/clients", json=NEW_CLIENT, headers={"Idempotency-Key": "create-lucia-0002"})
    assert other.json()["data"]["id"] != first.json()["data"]["id"]
    body = assert_error(
        http.post("/v2/clients", json=NEW_CLIENT, headers={"Idempotency-Key": "short"}),
        400,
        "validation_failed",
    )
    assert "Idempotency-Key" in body["error"]


# -- lists -------------------------------------------------------------------------------------------


def test_list_envelope_cursor_and_limit_bounds(http):
    page = http.get("/v2/clients", params={"limit": 2}).json()
    assert set(page) == {"message", "data", "next", "has_more", "total_results"}
    assert len(page["data"]) == 2 and page["has_more"] is True and page["total_results"] == 3
    assert isinstance(page["next"], str) and page["message"]
    rest = http.get("/v2/clients", params={"limit": 2, "next": page["next"]}).json()
    assert len(rest["data"]) == 1 and rest["has_more"] is False and rest["next"] is None
    assert {c["id"] for c in page["data"] + rest["data"]} == {
        "client_publico_general",
        "client_juan_perez",
        "client_acme",
    }
    assert len(http.get("/v2/clients").json()["data"]) == 3  # default limit 10
    assert len(http.get("/v2/clients", params={"limit": 100}).json()["data"]) == 3
    for bad in ("0", "101", "ten"):
        body = assert_error(http.get("/v2/clients", params={"limit": bad}), 400, "validation_failed")
        assert "limit" in body["error"]
    assert_error(http.get("/v2/clients", params={"next": "bogus"}), 400, "validation_failed")


def test_created_filters_both_spellings(sandbox, http):
    for i, created in enumerate((1_000, 2_000, 3_000)):
        sandbox.state.store.put(
            TEAM, "clients", {"id": f"client_t{i}", "name": f"T{i}", "created_at": created}
        )

    def ids(**params) -> list[str]:
        return [c["id"] for c in http.get("/v2/clients", params=params).json()["data"]]

    assert ids(**{"created[gte]": 1500, "created[lte]": 2500}) == ["client_t1"]
    assert ids(created_gte=1500, created_lte=2500) == ["client_t1"]
    assert ids(**{"created[lte]": 2000}) == ["client_t1", "client_t0"]  # newest first
    assert ids(created_lte=2000, sort="asc") == ["client_t0", "client_t1"]
    assert set(ids(created_gte=3000)) == {
        "client_t2",
        "client_publico_general",
        "client_juan_perez",
        "client_acme",
    }
    body = assert_error(
        http.get("/v2/clients", params={"created[gte]": "yesterday"}), 400, "validation_failed"
    )
    assert "created" in body["error"]


# -- persistence -------------------------------------------------------------------------------------


def test_sqlite_file_keeps_state_across_restarts_without_reseeding(tmp_path):
    db = str(tmp_path / "sandbox.db")
    key = {"Idempotency-Key": "persist-key-0001"}
    with SandboxServer(API_KEY, db=db) as sb:
        r = httpx.post(f"{sb.url}/clients", json=NEW_CLIENT, headers=AUTH | key)
        assert r.status_code == 201
        created = r.json()["data"]
        assert sb.state.store.count(TEAM, "clients") == 4
    with SandboxServer(API_KEY, db=db) as sb:
        got = httpx.get(f"{sb.url}/clients/{created['id']}", headers=AUTH)
        assert got.status_code == 200 and got.json()["data"] == created
        assert sb.state.store.count(TEAM, "clients") == 4  # seed data not added twice
        assert sb.state.store.count(TEAM, "teams") == 1
        page = httpx.get(f"{sb.url}/clients", headers=AUTH).json()
        assert page["total_results"] == 4
        again = httpx.post(f"{sb.url}/clients", json=NEW_CLIENT, headers=AUTH | key)
        assert again.json()["data"]["id"] == created["id"]  # the idempotency record survived too
        assert sb.state.store.count(TEAM, "clients") == 4


# -- fault injection ---------------------------------------------------------------------------------


def test_fault_malformed_json(sandbox, http):
    sandbox.state.faults.add({"kind": "malformed", "path": "^/clients$"})
    r = http.get("/v2/clients")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert http.get("/v2/clients").json()["total_results"] == 3  # times defaults to 1


def test_fault_dropped_connection(sandbox, http):
    sandbox.state.faults.add({"kind": "drop"})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.get("/v2/clients")
    assert http.get("/v2/clients").status_code == 200
    assert sandbox.state.faults.injected == {"drop": 1}


def test_fault_429_with_retry_after(sandbox, http):
    sandbox.state.faults.add({"kind": "status", "status": 429, "retry_after": 2, "times": 2})
    for _ in range(2):
        body = assert_error(http.get("/v2/clients"), 429, "rate_limit_exceeded")
        assert "429" in body["error"]
    assert http.get("/v2/clients").status_code == 200  # the rule ran out after 2
    sandbox.state.faults.add({"kind": "status", "status": 429, "retry_after": 0.5})
    assert http.get("/v2/clients").headers["retry-after"] == "0.5"
    sandbox.state.faults.add({"kind": "status", "status": 503})
    r = http.get("/v2/clients")
    assert "retry-after" not in r.headers
    assert_error(r, 503, "service_unavailable")
    assert sandbox.state.faults.injected == {"status429": 3, "status503": 1}


def test_fault_latency(sandbox, http):
    sandbox.state.faults.add({"kind": "latency", "delay": 0.3})
    start = time.monotonic()
    r = http.get("/v2/clients")
    assert time.monotonic() - start >= 0.3 and r.status_code == 200


def test_fault_commit_then_fail_and_rule_matching(sandbox, http):
    sandbox.state.faults.add(
        {"kind": "status", "status": 500, "method": "POST", "path": "^/clients$", "after": True}
    )
    assert http.get("/v2/clients").status_code == 200  # other method: untouched
    assert_error(http.post("/v2/clients", json=NEW_CLIENT), 500, "internal_server_error")
    assert sandbox.state.store.count(TEAM, "clients") == 4  # ... but the write happened
    assert sandbox.state.faults.injected == {"status500-after": 1} and not sandbox.state.faults.rules


# -- admin endpoints ---------------------------------------------------------------------------------


def test_admin_endpoints_require_the_key(sandbox, http):
    for path in ("/_sandbox/faults", "/_sandbox/requests"):
        assert httpx.get(f"{sandbox.base_url}{path}").json() == UNAUTHORIZED
        r = httpx.delete(f"{sandbox.base_url}{path}", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
    r = httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"rules": [{"kind": "drop"}]})
    assert r.status_code == 401 and not sandbox.state.faults.rules

    rule = {"kind": "status", "status": 502, "path": "^/clients$"}
    listed = http.post("/_sandbox/faults", json={"rules": [rule]}).json()
    assert [(r["kind"], r["status"]) for r in listed["rules"]] == [("status", 502)]
    assert http.get("/_sandbox/faults").json()["rules"] == listed["rules"]  # admin paths are never faulted
    assert_error(http.get("/v2/clients"), 502, "internal_server_error")
    assert http.get("/_sandbox/faults").json()["injected"] == {"status502": 1}
    http.post("/_sandbox/faults", json={"rules": [rule]})
    assert http.delete("/_sandbox/faults").json()["rules"] == []
    assert http.get("/v2/clients").status_code == 200

    log = http.get("/_sandbox/requests").json()
    assert log["total"] == len(log["requests"]) >= 1
    assert log["requests"][-1]["path"] == "/clients" and log["requests"][-1]["status"] == 200
    assert http.delete("/_sandbox/requests").json() == {"requests": [], "total": 0}
