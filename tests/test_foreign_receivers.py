"""Foreign receivers, SAT catalogs on arguments, and the issuer the rules use when a call names no team.

The SAT case table comes from the Matriz de errores CFDI 4.0 (SAT, 2024-12-13; rows CFDI40113, CFDI40149,
CFDI40151-40156, CFDI40132) and the Anexo 20 guía de llenado (Receptor: ResidenciaFiscal, NumRegIdTrib),
independent of what our sandbox does; the rest plays the rules through a real MCP session against it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from mcp import Client

from gigstack_mcp.guards import cfdi
from gigstack_mcp.guards.wiring import team_in_key
from gigstack_mcp.server import build_server

from .conftest import call_err, call_ok, call_refused, make_settings

pytestmark = pytest.mark.anyio
TEAM = "team_sandbox"
ISSUER = {"tax_id": "DSA200101AB8", "tax_system": "601", "address": {"zip": "64000"}}
XEXX = {"tax_id": "XEXX010101000", "tax_system": "616", "legal_name": "GLOBEX CORPORATION"}
REGISTERED = {"tax_id": "PEGJ800101AB1", "tax_system": "612", "legal_name": "JUAN PEREZ GARCIA"}
ITEM = {
    "description": "Consultoría",
    "quantity": 1,
    "unit_price": 100,
    "product_key": "81111500",
    "unit_key": "HUR",
    "taxes": [{"type": "IVA", "rate": 0}],
}


def invoice_to(client: dict[str, Any], use: str = "S01") -> dict[str, Any]:
    body = {"client": client, "items": [ITEM], "use": use, "payment_method": "PUE", "payment_form": "03"}
    return body | {"currency": "USD", "exchange_rate": 17.25}


def findings(body: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(violations, warnings) as (rule, field) of an income invoice by ISSUER."""
    try:
        return [], [(w.rule_id, w.field) for w in cfdi.check_invoice(body, "I", None, ISSUER)]
    except cfdi.RuleViolation as exc:
        return [(v.rule_id, v.field) for v in exc.violations], []


# (SAT source, receiver, expected (rule, field) or None when the PAC accepts it)
SAT_CASES = [
    # Anexo 20: a resident abroad without an RFC is XEXX010101000, 616, S01, DomicilioFiscal = LugarExpedicion.
    ("Anexo 20 Receptor", XEXX | {"address": {"zip": "64000", "country": "USA"}}, None),
    (
        "CFDI40156 pattern ok",
        XEXX | {"address": {"zip": "64000", "country": "USA"}, "foreign_tax_id": "987654321"},
        None,
    ),
    ("CFDI40151 MEX allowed", REGISTERED | {"address": {"zip": "03100", "country": "MEX"}}, None),
    (
        "CFDI40151",
        REGISTERED | {"address": {"zip": "03100", "country": "USA"}},
        ("XEXX-RESIDENCIA", "client.tax_id"),
    ),
    (
        "CFDI40151 XAXX",
        {"tax_id": "XAXX010101000", "tax_system": "616", "address": {"zip": "64000", "country": "CAN"}},
        ("XEXX-RESIDENCIA", "client.tax_id"),
    ),
    (
        "CFDI40152",
        XEXX | {"address": {"zip": "64000", "country": "MEX"}},
        ("XEXX-RESIDENCIA", "client.address.country"),
    ),
    (
        "CFDI40153",
        XEXX | {"address": {"zip": "64000"}, "foreign_tax_id": "987654321"},
        ("XEXX-RESIDENCIA", "client.address.country"),
    ),
    (
        "CFDI40154",
        REGISTERED | {"address": {"zip": "03100"}, "foreign_tax_id": "987654321"},
        ("XEXX-RESIDENCIA", "client.foreign_tax_id"),
    ),
    (
        "CFDI40156",
        XEXX | {"address": {"zip": "64000", "country": "USA"}, "foreign_tax_id": "98-7654321"},
        ("XEXX-RESIDENCIA", "client.foreign_tax_id"),
    ),
    (
        "CFDI40149",
        XEXX | {"address": {"zip": "03100", "country": "USA"}},
        ("GENERIC-CP", "client.address.zip"),
    ),
    (
        "CFDI40159",
        {**XEXX, "tax_system": "601", "address": {"zip": "64000", "country": "USA"}},
        ("GENERIC-REGIMEN-616", "client.tax_system"),
    ),
]


@pytest.mark.parametrize("source, client, expected", SAT_CASES, ids=[c[0] for c in SAT_CASES])
def test_sat_foreign_receiver_cases(source, client, expected):
    violations, _ = findings(invoice_to(client))
    if expected is None:  # the PAC stamps it
        assert not violations, (source, violations)
    else:  # the PAC refuses it: refused here, nothing sent
        assert expected in violations, (source, violations)


def test_xexx_without_a_country_is_a_warning_that_says_where_it_goes():
    """Anexo 20: ResidenciaFiscal is conditional for XEXX without NumRegIdTrib; the warning names the field."""
    warnings = cfdi.check_invoice(invoice_to(XEXX | {"address": {"zip": "64000"}}), "I", None, ISSUER)
    [w] = [w for w in warnings if w.rule_id == "XEXX-RESIDENCIA"]
    assert w.field == "client.address.country" and "foreign_tax_id" in str(w)


# -- through the server ---------------------------------------------------------------------------------


@pytest.fixture
async def mcp(sandbox):
    async with Client(build_server(make_settings(sandbox))) as client:
        yield client


async def test_an_inline_foreign_client_reaches_the_xml(mcp, sandbox):
    client = XEXX | {"address": {"zip": "64000", "country": "usa"}, "foreign_tax_id": "987654321"}
    preview = await call_ok(mcp, "create_income_invoice", invoice_to(client) | {"preview": True})
    assert (preview["receiver"]["country"], preview["receiver"]["foreign_tax_id"]) == ("USA", "987654321")
    issued = await call_ok(mcp, "create_income_invoice", invoice_to(client))
    files = await call_ok(mcp, "get_invoice_files", {"uuid": issued["uuid"], "include_content": True})
    assert 'ResidenciaFiscal="USA"' in files["xml_content"]
    assert 'NumRegIdTrib="987654321"' in files["xml_content"]
    stored = sandbox.state.store.get(TEAM, "clients", issued["client"]["id"])
    assert stored["address"]["country"] == "USA" and stored["foreign_tax_id"] == "987654321"
    listed = await mcp.call_tool("list_clients", {"query": "GLOBEX"})
    assert "país USA | NumRegIdTrib 987654321" in listed.content[0].text


async def test_a_stored_foreign_client_residing_in_mex_is_not_valid(mcp, sandbox, gigstack):
    """CFDI40152: a XEXX client stored with country MEX (gigstack's default; create_client itself refuses
    it) cannot be invoiced until it says where it resides; the guard refuses it before anything is sent."""
    address = {"zip": "64000", "country": "MEX"}
    client = (await gigstack.post("/clients", json=XEXX | {"use": "S01", "address": address}))["data"]
    check = await call_ok(mcp, "validate_client_fiscal_info", {"id": client["id"]})
    assert not check["is_valid"] and any("address.country" in i for i in check["issues"])
    # Invoicing it is refused before anything is sent (XEXX-RESIDENCIA, CFDI40152), with the way out.
    text = await call_err(mcp, "create_income_invoice", invoice_to({"id": client["id"]}))
    assert "XEXX-RESIDENCIA" in text and "MEX" in text
    await call_ok(mcp, "update_client", {"id": client["id"], "address": {"zip": "64000", "country": "CAN"}})
    issued = await call_ok(mcp, "create_income_invoice", invoice_to({"id": client["id"]}))
    files = await call_ok(mcp, "get_invoice_files", {"uuid": issued["uuid"], "include_content": True})
    assert 'ResidenciaFiscal="CAN"' in files["xml_content"]


async def test_a_mexican_receiver_carries_no_foreign_residence_in_the_xml(mcp):
    """CFDI40151: ResidenciaFiscal must not exist for a registered RFC (the client is stored as MEX)."""
    issued = await call_ok(mcp, "create_income_invoice", invoice_to({"id": "client_juan_perez"}, use="G03"))
    files = await call_ok(mcp, "get_invoice_files", {"uuid": issued["uuid"], "include_content": True})
    assert "ResidenciaFiscal" not in files["xml_content"] and "NumRegIdTrib" not in files["xml_content"]


async def test_a_tax_id_that_is_not_an_rfc_is_refused_with_the_foreign_path(mcp, sandbox):
    args = {"client": XEXX | {"tax_id": "98-7654321", "address": {"zip": "64000"}}, "items": [ITEM]}
    await call_refused(
        mcp, sandbox, "create_income_invoice", args, "'98-7654321'", "XEXX010101000", "616", "foreign_tax_id"
    )


@pytest.mark.parametrize("country", ["US", "XYZ", "Estados Unidos"])
async def test_a_country_outside_c_pais_is_refused(mcp, sandbox, country):
    args = XEXX | {"address": {"zip": "64000", "country": country}}
    await call_refused(mcp, sandbox, "create_client", args, "c_Pais", repr(country))


@pytest.mark.parametrize(
    "tool, args",
    [
        ("create_income_invoice", invoice_to({"id": "client_juan_perez"}, use="G03")),
        ("create_receipt", {"items": [ITEM], "payment_form": "01", "exchange_rate": 17}),
        (
            "register_payment",
            {"client": {"id": "client_acme"}, "items": [ITEM], "payment_form": "03", "exchange_rate": 17},
        ),
    ],
)
async def test_a_currency_outside_c_moneda_is_refused(mcp, sandbox, tool, args):
    """CFDI40113: Moneda must be a c_Moneda code; "DLS" (how people write dollars) is not."""
    await call_refused(mcp, sandbox, tool, args | {"currency": "DLS"}, "c_Moneda", "'DLS'")


async def test_the_sandbox_refuses_a_currency_outside_c_moneda(gigstack):
    from gigstack_mcp.client import BadRequestError

    with pytest.raises(BadRequestError) as exc:
        await gigstack.post(
            "/invoices/income", json=invoice_to({"id": "client_juan_perez"}) | {"currency": "DLS"}
        )
    assert "c_Moneda" in str(exc.value)


# -- the issuer, when the call names no team ------------------------------------------------------------


async def test_issuer_rules_run_without_a_team_and_follow_update_team(mcp, sandbox):
    """The settings name no team: the issuer is the key's own team (GET /teams), so GENERIC-CP (CFDI40149)
    blocks instead of warning; after update_team moves the team, the rule follows the new zip at once."""
    public = {"tax_id": "XAXX010101000", "tax_system": "616", "legal_name": "PUBLICO EN GENERAL"}
    body = {
        "client": public | {"address": {"zip": "03100"}},
        "items": [ITEM | {"product_key": "01010101", "unit_key": "ACT"}],
        "use": "S01",
        "payment_method": "PUE",
        "payment_form": "01",
        "global": {"periodicity": "04", "months": "01", "year": 2026},
    }
    before = sandbox.state.store.count(TEAM, "invoices")
    text = await call_err(mcp, "create_income_invoice", body)
    assert "GENERIC-CP" in text and "64000" in text
    assert sandbox.state.store.count(TEAM, "invoices") == before
    # Bimonthly global invoices are for régimen 621 only (CFDI40132): the issuer is 601.
    bimonthly = body | {"client": public | {"address": {"zip": "64000"}}}
    text = await call_err(
        mcp,
        "create_income_invoice",
        bimonthly | {"global": {"periodicity": "05", "months": "13", "year": 2026}},
    )
    assert "GLOBAL-BIMESTRAL-621" in text
    await call_ok(mcp, "update_team", {"id": TEAM, "address": {"zip": "03100"}})
    issued = await call_ok(mcp, "create_income_invoice", body)
    assert sandbox.state.store.get(TEAM, "invoices", issued["uuid"])["issuer"]["zip"] == "03100"


async def test_an_issuer_lookup_that_failed_is_not_remembered(sandbox):
    """gigstack down for GET /teams: that call goes on with the issuer unknown (GENERIC-CP only warns),
    and the next call asks again instead of living an hour without the issuer."""
    settings = make_settings(sandbox, max_retries=0)
    sandbox.state.faults.add(
        {"kind": "status", "status": 503, "method": "GET", "path": "^/teams$", "times": 1}
    )
    body = {
        "client": {"tax_id": "XAXX010101000", "tax_system": "616", "legal_name": "PUBLICO EN GENERAL"}
        | {"address": {"zip": "03100"}},
        "items": [ITEM | {"product_key": "01010101", "unit_key": "ACT"}],
        "use": "S01",
        "payment_method": "PUE",
        "payment_form": "01",
    }
    async with Client(build_server(settings)) as mcp:
        preview = await call_ok(
            mcp,
            "create_income_invoice",
            body | {"global": {"periodicity": "04", "months": "01", "year": 2026}} | {"preview": True},
        )
        assert any("GENERIC-CP" in w for w in preview["warnings"])
        text = await call_err(
            mcp,
            "create_income_invoice",
            body | {"global": {"periodicity": "04", "months": "01", "year": 2026}} | {"preview": True},
        )
        assert "GENERIC-CP" in text and "64000" in text


def jwt(payload: dict[str, Any]) -> str:
    part = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{part}.c2lnbmF0dXJl"


def test_the_team_in_a_gigstack_key():
    """Official CLI getTeamFromKey: a JWT key's payload names the key's own team; other keys name none."""
    assert team_in_key(jwt({"team": "team_abc", "livemode": False})) == "team_abc"
    assert team_in_key(jwt({"livemode": False})) is None
    assert team_in_key("sk_test_plain_key") is None
    assert team_in_key("a.not-base64!.c") is None
