"""Preview before stamping (issue 5) through real MCP sessions in both eras: the breakdown of
create_income_invoice / create_egress_invoice called with preview true is what the sandbox then stamps, a preview sends nothing that stamps, and with require_preview a create
needs the token of a preview of exactly its payload (and a retried create stamps once)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from mcp import Client

from gigstack_mcp.guards import confirm
from gigstack_mcp.sandbox.examples import item
from gigstack_mcp.server import build_server

from .conftest import call_err, call_ok, make_settings

pytestmark = pytest.mark.anyio
TEAM = "team_sandbox"
IVA16 = {"type": "IVA", "rate": 0.16}


def invoice(*items: dict, **extra) -> dict:
    return {"client": {"id": "client_acme"}, "items": list(items), "use": "G03", "payment_form": "03"} | extra


HONORARIOS = [IVA16, {"type": "ISR", "rate": 0.10, "withholding": True}]
HONORARIOS.append({"type": "IVA", "rate": 0.106667, "withholding": True})  # 2/3 of the IVA
CASES = {
    "iva16": (invoice(item(1000, 2)), (2000, 0, 320, 0, 2320)),
    "isr_and_iva_withheld": (
        invoice(item(10000, taxes=HONORARIOS), payment_method="PPD", payment_form="99"),
        (10000, 0, 1600, 2066.67, 9533.33),
    ),
    "inclusive_iva": (invoice(item(1160, taxes=[{**IVA16, "inclusive": True}])), (1000, 0, 160, 0, 1160)),
    "exento": (invoice(item(500, 2, taxes=[{"type": "IVA", "factor": "Exento"}])), (1000, 0, 0, 0, 1000)),
    "discount": (invoice(item(1000, 2, discount=150)), (2000, 150, 296, 0, 2146)),
    "services": (
        invoice({"id": "service_consultoria", "quantity": 3}, {"id": "service_hosting", "discount": 50}),
        (3500, 50, 552, 0, 4002),
    ),
}
TOTALS = ("subtotal", "discount", "transferred_taxes", "withheld_taxes", "total")


def preview(args: dict) -> dict:
    return {**args, "preview": True}


def posts(sandbox) -> list[dict]:
    return sandbox.state.api_requests("POST")


@pytest.fixture(params=["auto", "legacy"])
async def strict(request: pytest.FixtureRequest, sandbox) -> AsyncIterator[Client]:
    """A session with a server that requires a preview before stamping."""
    server = build_server(make_settings(sandbox, require_preview=True))
    async with Client(server, mode=request.param) as client:
        yield client


@pytest.mark.parametrize("case", list(CASES))
async def test_preview_is_what_gets_stamped(mcp, sandbox, case):
    args, expected = CASES[case]
    before = sandbox.state.store.count(TEAM, "invoices")
    shown = await call_ok(mcp, "create_income_invoice", preview(args))
    assert tuple(shown[k] for k in TOTALS) == expected
    assert posts(sandbox) == [] and sandbox.state.store.count(TEAM, "invoices") == before  # nothing stamped
    created = await call_ok(mcp, "create_income_invoice", {**args, "preview_token": shown["preview_token"]})
    stored = sandbox.state.store.get(TEAM, "invoices", created["uuid"])
    assert tuple(stored[k] for k in TOTALS) == expected
    for line, stamped in zip(shown["items"], stored["items"], strict=True):
        assert (line["description"], line["quantity"], line["unit_price"], line["amount"]) == (
            stamped["description"],
            stamped["quantity"],
            stamped["unit_price"],
            stamped["amount"],
        )
        assert [t.get("amount") for t in line["taxes"]] == [t.get("amount") for t in stamped["taxes"]]


async def test_preview_shows_what_a_human_approves(mcp, sandbox):
    result = await mcp.call_tool("create_income_invoice", preview(CASES["isr_and_iva_withheld"][0]))
    assert not result.is_error
    data, text = result.structured_content, result.content[0].text
    assert data["receiver"] == {
        "legal_name": "ACME INDUSTRIAL",
        "tax_id": "AIN980512QX9",
        "tax_system": "601 General de Ley Personas Morales",
        "zip": "44100",
    }
    assert data["use"] == "G03 Gastos en general"
    assert data["payment_method"].startswith("PPD Pago en parcialidades")
    assert data["payment_form"] == "99 Por definir" and data["currency"] == "MXN"
    assert data["expires_at"] > time.time()
    assert "nothing has been stamped" in text and "TOTAL 9,533.33 MXN" in text
    assert "ISR retenido 10% -1,000.00" in text and "Withheld -2,066.67" in text
    assert f"preview_token={data['preview_token']}" in text and "create_income_invoice" in text
    assert "without preview" in text
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    assert "preview_invoice" not in tools  # folded into the creates (issue 13)
    for name in ("create_income_invoice", "create_egress_invoice"):  # still writes
        hints = tools[name].annotations
        assert hints.read_only_hint is not True and hints.destructive_hint is False
        assert tools[name].input_schema["properties"]["preview"]["type"] == ["boolean", "null"]
    assert posts(sandbox) == []


async def test_preview_runs_the_guard_rails(mcp, sandbox):
    base = invoice(item(1000))
    cases = [
        ({**base, "use": "P01"}, "USO-CATALOG"),
        ({**base, "payment_method": "PPD", "payment_form": "03"}, "PPD-FORMA-99"),
        ({**base, "use": "D01"}, "USO-REGIMEN"),
        ({**base, "currency": "USD"}, "MONEDA-TC"),
        ({**base, "items": [item(100, discount=500)]}, "discount"),
    ]
    for args, rule in cases:
        text = await call_err(mcp, "create_income_invoice", preview(args))
        assert rule in text and "Not sent to gigstack" in text, (rule, text)
    text = await call_err(
        mcp, "create_income_invoice", preview({**base, "items": [{"id": "service_missing"}]})
    )
    assert "404" in text and "Service not found" in text
    assert posts(sandbox) == []


async def test_preview_egress(mcp, sandbox):
    income = next(iter(sandbox.state.store.find(TEAM, "invoices", lambda d: d.get("invoice_type") == "I")))
    args = invoice(
        item(500, description="Descuento"),
        use="G02",
        related_documents=[{"relationship": "01", "documents": [income["uuid"]]}],
    )
    shown = await call_ok(mcp, "create_egress_invoice", preview(args))
    assert shown["invoice_type"] == "E" and shown["total"] == 580
    assert posts(sandbox) == []
    token = shown["preview_token"]
    text = await call_err(mcp, "create_income_invoice", {**args, "preview_token": token})
    assert "does not match" in text  # an egress preview does not stamp an income invoice
    egress = await call_ok(mcp, "create_egress_invoice", {**args, "preview_token": token})
    assert (
        egress["total"] == 580
        and sandbox.state.store.get(TEAM, "invoices", egress["uuid"])["invoice_type"] == "E"
    )


async def test_without_the_setting_a_token_is_optional_but_checked(mcp, sandbox):
    args = invoice(item(1000))
    assert (await call_ok(mcp, "create_income_invoice", args))["total"] == 1160
    token = (await call_ok(mcp, "create_income_invoice", preview(args)))["preview_token"]
    sent = len(posts(sandbox))
    text = await call_err(mcp, "create_income_invoice", {**invoice(item(999)), "preview_token": token})
    assert "Not sent to gigstack" in text and "preview_token does not match" in text
    assert len(posts(sandbox)) == sent


async def test_require_preview_refuses_unpreviewed_payloads(strict, sandbox):
    args = invoice(item(1000, 2))
    before = sandbox.state.store.count(TEAM, "invoices")
    text = await call_err(strict, "create_income_invoice", args)
    assert "requires a preview" in text and "Not sent to gigstack" in text
    assert "call create_income_invoice with the same arguments and preview true" in text
    text = await call_err(strict, "create_egress_invoice", {**args, "use": "G02"})
    assert "requires a preview" in text and "call create_egress_invoice" in text
    token = (await call_ok(strict, "create_income_invoice", preview(args)))["preview_token"]
    for other in (
        invoice(item(1000, 3)),  # another quantity
        {**args, "use": "G01"},
        {**args, "team": "team_other"},
    ):
        text = await call_err(strict, "create_income_invoice", {**other, "preview_token": token})
        assert "preview_token does not match" in text, text
    text = await call_err(strict, "create_income_invoice", {**args, "preview_token": "garbage"})
    assert "malformed" in text
    assert posts(sandbox) == [] and sandbox.state.store.count(TEAM, "invoices") == before


async def test_require_preview_stamps_once_even_when_retried(strict, sandbox):
    args = invoice(item(1000, 2))
    token = (await call_ok(strict, "create_income_invoice", preview(args)))["preview_token"]
    before = sandbox.state.store.count(TEAM, "invoices")
    first = await call_ok(strict, "create_income_invoice", {**args, "preview_token": token})
    again = await call_ok(strict, "create_income_invoice", {**args, "preview_token": token})
    assert first["uuid"] == again["uuid"] and first["total"] == 2320
    assert sandbox.state.store.count(TEAM, "invoices") == before + 1
    sent = sandbox.state.api_requests("POST", "^/invoices/income$")
    assert len(sent) == 2 and sent[1].get("replayed")
    assert (
        sent[0]["idempotency_key"].startswith("pv-")
        and sent[0]["idempotency_key"] == sent[1]["idempotency_key"]
    )
    assert "preview_token" not in sent[0]["body"]  # ours, never sent
    # One preview, one invoice: another idempotency_key does not stamp a second one.
    other = await call_ok(
        strict, "create_income_invoice", {**args, "preview_token": token, "idempotency_key": "order-77-a"}
    )
    assert other["uuid"] == first["uuid"] and sandbox.state.store.count(TEAM, "invoices") == before + 1
    assert sandbox.state.api_requests("POST", "^/invoices/income$")[-1]["idempotency_key"].startswith("pv-")


class _Later:
    """Stands in for the `time` module in guards/confirm.py, which reads time.time() itself (not
    gigstack_mcp.clock): `seconds` later than now, so a token expires without the test sleeping."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time(self) -> float:
        return time.time() + self.seconds


async def test_require_preview_refuses_an_expired_token(sandbox, monkeypatch):
    server = build_server(make_settings(sandbox, require_preview=True, confirm_ttl=60))
    async with Client(server) as client:
        args = invoice(item(1000))
        shown = await call_ok(client, "create_income_invoice", preview(args))
        monkeypatch.setattr(confirm, "time", _Later(61))
        text = await call_err(
            client, "create_income_invoice", {**args, "preview_token": shown["preview_token"]}
        )
        assert "expired" in text and "Not sent to gigstack" in text
    assert posts(sandbox) == []


def test_cfdi_math_is_pure_and_names_the_field():
    from gigstack_mcp import cfdi_math

    ieps = {"type": "IEPS", "factor": "Cuota", "rate": 0.5}
    priced = cfdi_math.price_item(
        {"unit_price": 10.5, "quantity": 4, "taxes": [{**ieps, "inclusive": True}]}, "i"
    )
    assert (priced["unit_price"], priced["amount"], priced["taxes"][0]["amount"]) == (10.0, 40.0, 2.0)
    assert cfdi_math.money(2.675) == 2.68 and cfdi_math.money(-0.005) == -0.01  # half up, away from zero
    totals = cfdi_math.totals([priced, cfdi_math.price_item({"unit_price": 100, "taxes": [IVA16]}, "j")])
    assert totals == {
        "subtotal": 140.0,
        "discount": 0.0,
        "transferred_taxes": 18.0,
        "withheld_taxes": 0.0,
        "taxes": 18.0,
        "total": 158.0,
    }
    for bad, field in [
        ({"unit_price": 0}, "items.0.unit_price"),
        ({"unit_price": 10, "discount": 11}, "items.0.discount"),
        ({"unit_price": 10, "taxes": [{"type": "IVA", "factor": "Exento", "withholding": True}]}, "items.0"),
        ({"unit_price": 10, "taxes": [{"type": "IVA"}]}, "items.0.taxes.0.rate"),
    ]:
        with pytest.raises(cfdi_math.MathError, match=field.replace(".", r"\.")):
            cfdi_math.price_item(bad, "items.0")
