"""Tool <-> operation <-> route, from the contract (gigstack_mcp/sandbox/contract/*.json): every tool that
calls gigstack is named like a contract operation, calls it, and the sandbox serves that operation on its
route; every operation the sandbox serves is in the contract; the sandbox's answers fit the responses
the contract declares. The exceptions are listed here, each with its reason."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gigstack_mcp.sandbox import _contract
from gigstack_mcp.sandbox.app import resources
from gigstack_mcp.sandbox.server import SandboxServer
from gigstack_mcp.tools import select

from .conftest import API_KEY, call_ok

pytestmark = pytest.mark.anyio

TOOLS_WITHOUT_OPERATION = {
    "lookup_catalog": "the SAT catalogs ship with the server: no gigstack call",
    "get_client_statement": "composes get_client, list_income_invoices, list_egress_invoices and list_payments",
}
OPERATIONS_WITHOUT_TOOL = {
    "search_clients": "list_clients with `query`",
}
# A gigstack call in a tool's source: api.get("/clients/...") or api.list(f"/teams/{p.id}/series", ...)
_CALL = re.compile(r"\b(?:api|client)\.(get|post|put|delete|list)\(\s*f?\"(/[^\"]*)\"")
_PATH = re.compile(r"f?\"(/[a-z][^\"]*)\"")  # a path in any call, e.g. _list(api, "/invoices/income", p)


def _tool_names() -> set[str]:
    return {spec.name for spec in select("all")}


def _segments(path: str) -> list[str]:
    return ["{}" if s.startswith("{") else s for s in path.strip("/").split("/")]


def _fits(called: str, declared: str) -> bool:
    """A called path (placeholders for the values the tool fills in) fits a contract path template."""
    a, b = _segments(called), _segments(declared)
    return len(a) == len(b) and all(x == y or "{}" in (x, y) for x, y in zip(a, b, strict=True))


def _calls(source: str) -> list[tuple[str, str]]:
    return [("GET" if m == "list" else m.upper(), path) for m, path in _CALL.findall(source)]


def test_the_sandbox_serves_exactly_the_contract():
    served = [(op.method, op.path, op.operation_id) for r in resources() for op in r.operations]
    assert _contract.unserved(served) == []
    assert len(served) == len(_contract.declared())  # no operation served twice


def test_unserved_names_what_differs():
    """The check create_app runs: it must notice a route missing from either side, or a moved one."""
    served = [(op.method, op.path, op.operation_id) for r in resources() for op in r.operations]
    moved = [(m, "/clients/{id}/x" if o == "get_client" else p, o) for m, p, o in served]
    extra = [*served, ("GET", "/widgets", "list_widgets")]
    assert _contract.unserved(moved) == [
        "get_client: the sandbox serves ('GET', '/clients/{id}/x'), the contract says ('GET', '/clients/{id}')"
    ]
    assert _contract.unserved(extra) == ["list_widgets: ('GET', '/widgets') not in the contract"]
    assert _contract.unserved(served[1:]) == [f"{served[0][2]}: {served[0][:2]} not served by the sandbox"]


def test_operation_ids_are_tool_names():
    tools, operations = _tool_names(), set(_contract.declared())
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", o) for o in operations), sorted(operations)
    assert tools - operations == set(TOOLS_WITHOUT_OPERATION), "a tool without its operation"
    assert operations - tools == set(OPERATIONS_WITHOUT_TOOL), "an operation without its tool"


def test_each_tool_calls_its_own_operation():
    """Read from the tool's source: the paths it calls include its operation's (the method of each call
    is checked against the contract below, and through the sandbox in the last test)."""
    declared = _contract.declared()
    for spec in select("all"):
        if spec.name in TOOLS_WITHOUT_OPERATION:
            continue
        paths = _PATH.findall(inspect.getsource(spec.fn))
        assert any(_fits(p, declared[spec.name][1]) for p in paths), f"{spec.name}: {paths}"


def test_every_gigstack_call_in_the_tools_is_a_contract_operation():
    declared = list(_contract.declared().values())
    found = 0
    for module in sorted({inspect.getmodule(spec.fn) for spec in select("all")}, key=str):
        for method, path in _calls(inspect.getsource(module)):
            found += 1
            assert any(m == method and _fits(path, p) for m, p in declared), (module.__name__, method, path)
    assert found > 40  # the pattern still finds the calls


@pytest.fixture
def checked(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The sandbox checking each answer against the contract's declared responses (reset turns it off)."""
    sandbox.state.check_responses = True
    yield sandbox
    assert sandbox.state.response_problems == []


def test_every_operation_declares_its_answers():
    """A success status with a JSON schema and the `default` error answer, for every operation."""
    for path, item in _contract.contract()["paths"].items():
        for method, op in item.items():
            responses = op.get("responses", {})
            success = [s for s in responses if s.startswith("2")]
            assert success and "default" in responses, (method, path, sorted(responses))
            for status in [*success, "default"]:
                assert "schema" in responses[status]["content"]["application/json"], (method, path, status)


def test_response_error_names_what_does_not_fit():
    ok = {"message": "Client retrieved successfully", "data": {"id": "client_acme"}}
    assert _contract.response_error("GET", "/clients/{id}", 200, ok) is None
    no_id = _contract.response_error("GET", "/clients/{id}", 200, {"message": "x", "data": {}})
    assert no_id == "GET /clients/{id} 200: data: 'id' is a required property"
    page = {"message": "x", "data": [{"id": "c"}], "next": None, "has_more": "no"}
    assert "has_more: 'no' is not of type 'boolean'" in (
        _contract.response_error("GET", "/clients", 200, page) or ""
    )
    error = {"message": "Not found", "error": "no client", "code": "resource_not_found"}
    assert _contract.response_error("GET", "/clients/{id}", 404, error) is None
    assert "'error' is a required property" in (
        _contract.response_error("GET", "/clients/{id}", 404, ok) or ""
    )


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "no_such_id", path)


def test_each_operation_is_routed_to_its_handler(checked: SandboxServer):
    """A request to each operation's path reaches that operation (literal routes such as /teams/integrations
    and /clients/search are not taken by /teams/{id} or /clients/{id}), and its answer fits the contract."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=checked.url, headers=headers, timeout=10) as http:
        for op_id, (method, path) in sorted(_contract.declared().items()):
            body = {} if method in {"POST", "PUT"} else None
            response = http.request(method, _concrete(path), json=body)
            entry = checked.state.requests[-1]
            assert entry["operation"] == op_id, (method, path, entry, response.text)


def _first(data: Any, key: str = "id") -> str:
    """The first `key` value in a tool's structured result (a page's first item)."""
    if isinstance(data, dict):
        if isinstance(data.get(key), str):
            return data[key]
        values = list(data.values())
    elif isinstance(data, list):
        values = data
    else:
        values = []
    for value in values:
        try:
            return _first(value, key)
        except LookupError:
            continue
    raise LookupError(key)


NEW_CLIENT = {
    "legal_name": "LUCIA HERNANDEZ RUIZ",
    "tax_id": "HERL850101AB1",
    "tax_system": "612",
    "address": {"zip": "06700"},
    "email": "lucia@example.com",
}


async def test_tool_calls_reach_their_operation_and_answers_fit(checked: SandboxServer, mcp):
    """Through the real server: each call below makes a request to the operation named like its tool,
    and every answer the sandbox gives on the way fits the contract."""

    async def call(name: str, args: dict[str, Any] | None = None, via: str | None = None) -> dict[str, Any]:
        before = len(checked.state.requests)
        result = await call_ok(mcp, name, args)
        operations = [e.get("operation") for e in checked.state.requests[before:]]
        assert (via or name) in operations, (name, operations)
        return result

    client = _first(await call("list_clients"))
    await call("list_clients", {"query": "acme"}, via="search_clients")
    await call("get_client", {"id": client})
    await call("validate_client_fiscal_info", {"id": client})
    created = _first(await call("create_client", NEW_CLIENT))
    await call("update_client", {"id": created, "email": "lucia.h@example.com"})
    service = _first(await call("list_services"))
    await call("get_service", {"id": service})
    await call("create_service", {"description": "Consultoria", "unit_price": 1000})
    invoice = _first(await call("list_income_invoices"), "uuid")
    await call("get_income_invoice", {"uuid": invoice})
    await call("get_invoice_files", {"uuid": invoice})
    await call("list_egress_invoices")
    payment = _first(await call("list_payments"))
    await call("get_payment", {"id": payment})
    receipt = _first(await call("list_receipts"))
    await call("get_receipt", {"id": receipt})
    team = _first(await call("list_teams"))
    await call("get_team", {"id": team})
    await call("get_team_integrations")
    await call("get_team_series", {"id": team})
    await call("get_team_onboarding_url", {"id": team})
    user = _first(await call("list_users"))
    await call("get_user", {"id": user})
