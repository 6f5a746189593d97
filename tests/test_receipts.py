"""Receipts tools end to end (MCP client -> server -> httpx -> sandbox), asserted on sandbox state:
self-invoice receipts, stamping to a client or to público en general, pending-receipt stamping,
cancellation."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from gigstack_mcp import clock
from gigstack_mcp.client import ConflictError
from gigstack_mcp.sandbox.receipts import MX, valid_until

from .conftest import both_eras, call_err, call_ok, one_era

pytestmark = [pytest.mark.anyio, one_era]
TEAM = "team_sandbox"
VENTA = {
    "description": "Venta mostrador",
    "quantity": 2,
    "unit_price": 250,
    "product_key": "01010101",
    "unit_key": "H87",
    "taxes": [{"type": "IVA", "rate": 0.16}],
}
LUCIA = {"legal_name": "LUCIA GOMEZ RUIZ", "tax_id": "GORL850315K29", "tax_system": "612", "zip": "06700"}


def receipt(sandbox, rid: str) -> dict:
    return sandbox.state.store.get(TEAM, "receipts", rid)


def invoice(sandbox, uuid: str) -> dict:
    return sandbox.state.store.get(TEAM, "invoices", uuid)


def test_valid_until_is_the_end_of_the_period():
    noon = int(dt.datetime(2026, 1, 20, 12, tzinfo=MX).timestamp())
    ends = {
        p: dt.datetime.fromtimestamp(valid_until(noon, p), MX)
        for p in ("day", "week", "two_weeks", "month", "two_months")
    }
    assert {p: e.date().isoformat() for p, e in ends.items()} == {
        "day": "2026-01-20",
        "week": "2026-01-25",
        "two_weeks": "2026-01-31",
        "month": "2026-01-31",
        "two_months": "2026-02-28",
    }
    assert all((e.hour, e.minute, e.second) == (23, 59, 59) for e in ends.values())
    dec = int(dt.datetime(2026, 12, 3, 9, tzinfo=MX).timestamp())
    assert dt.datetime.fromtimestamp(valid_until(dec, "two_weeks"), MX).date() == dt.date(2026, 12, 15)
    assert dt.datetime.fromtimestamp(valid_until(dec, "month"), MX).date() == dt.date(2026, 12, 31)


# -- list / get ------------------------------------------------------------------------------------


async def test_list_receipts(mcp, sandbox):
    page = await call_ok(mcp, "list_receipts", {"status": "pending"})
    assert {r["id"] for r in page["data"]} == {"receipt_demo_juan", "receipt_demo_mostrador"}
    mine = await call_ok(mcp, "list_receipts", {"client_id": "client_juan_perez"})
    assert [r["id"] for r in mine["data"]] == ["receipt_demo_juan"]
    assert mine["data"][0]["url"] == f"{sandbox.base_url}/autofactura?id=receipt_demo_juan"
    text = await call_err(mcp, "list_receipts", {"next": "bogus"})
    assert "400" in text
    before = len(sandbox.state.api_requests())
    assert "status" in await call_err(mcp, "list_receipts", {"status": "paid"})  # "open" is gigstack's
    assert len(sandbox.state.api_requests()) == before


async def test_get_receipt(mcp, sandbox):
    got = await call_ok(mcp, "get_receipt", {"id": "receipt_demo_mostrador"})
    assert got["status"] == "pending" and got["total"] == 1160.0 and got.get("client") is None
    assert got["validUntil"] > clock.unix()
    assert "404" in await call_err(mcp, "get_receipt", {"id": "receipt_missing"})
    before = len(sandbox.state.api_requests())
    assert "id" in await call_err(mcp, "get_receipt", {"id": ""})
    assert len(sandbox.state.api_requests()) == before


async def test_expired_receipt_shows_expired(mcp, sandbox):
    doc = receipt(sandbox, "receipt_demo_mostrador") | {"validUntil": clock.unix() - 10}
    sandbox.state.store.put(TEAM, "receipts", doc)
    assert (await call_ok(mcp, "get_receipt", {"id": doc["id"]}))["status"] == "expired"
    text = await call_err(
        mcp, "stamp_receipt", {"id": doc["id"], "stamp_to": "client", "fiscal_information": LUCIA}
    )
    assert "409" in text and "global" in text


# -- create ----------------------------------------------------------------------------------------


async def test_create_receipt(mcp, sandbox):
    created = await call_ok(
        mcp, "create_receipt", {"items": [VENTA], "periodicity": "week", "payment_form": "01"}
    )
    assert created["status"] == "pending" and created["total"] == 580.0
    assert created["url"] == f"{sandbox.base_url}/autofactura?id={created['id']}"
    assert created["validUntil"] == valid_until(receipt(sandbox, created["id"])["created"], "week")
    with_client = await call_ok(
        mcp, "create_receipt", {"client": {"id": "client_acme"}, "items": [{"id": "service_hosting"}]}
    )
    assert (
        with_client["client"]["id"] == "client_acme"
        and receipt(sandbox, with_client["id"])["periodicity"] == "month"
    )


async def test_create_receipt_idempotent(mcp, sandbox):
    args = {"items": [VENTA], "idempotency_key": "ticket-000123"}
    first = await call_ok(mcp, "create_receipt", args)
    second = await call_ok(mcp, "create_receipt", args)
    assert first["id"] == second["id"] and sandbox.state.store.count(TEAM, "receipts") == 3


async def test_create_receipt_errors(mcp, sandbox):
    text = await call_err(mcp, "create_receipt", {"client": {"id": "client_nobody"}, "items": [VENTA]})
    assert "404" in text and "Client not found" in text
    before = len(sandbox.state.api_requests())
    assert "Not sent" in await call_err(mcp, "create_receipt", {"items": [VENTA], "payment_form": "99"})
    assert "items" in await call_err(mcp, "create_receipt", {"items": []})
    assert "periodicity" in await call_err(mcp, "create_receipt", {"items": [VENTA], "periodicity": "year"})
    retention = VENTA | {
        "taxes": [{"type": "IVA", "rate": 0.16}, {"type": "ISR", "rate": 0.1, "withholding": True}]
    }
    assert "GLOBAL-NO-RETENCIONES" in await call_err(mcp, "create_receipt", {"items": [retention]})
    assert len(sandbox.state.api_requests()) == before
    assert sandbox.state.store.count(TEAM, "receipts") == 2


# -- stamp -----------------------------------------------------------------------------------------


async def test_stamp_receipt_to_general_public(mcp, sandbox):
    stamped = await call_ok(
        mcp, "stamp_receipt", {"id": "receipt_demo_mostrador", "stamp_to": "general_public_national"}
    )
    assert stamped["status"] == "stamped" and stamped["receipt_id"] == "receipt_demo_mostrador"
    assert stamped["client"]["tax_id"] == "XAXX010101000" and stamped["total"] == 1160.0
    assert stamped["files"]["pdf"].startswith(sandbox.base_url)
    inv = invoice(sandbox, stamped["uuid"])
    assert inv["client"]["tax_id"] == "XAXX010101000" and inv["client"]["tax_system"] == "616"
    assert inv["use"] == "S01" and inv["payment_method"] == "PUE" and inv["payment_form"] == "01"
    assert inv["client"]["zip"] == inv["issuer"]["zip"]  # DomicilioFiscalReceptor = LugarExpedicion
    created = dt.datetime.fromtimestamp(receipt(sandbox, "receipt_demo_mostrador")["created"], MX)
    assert inv["global"] == {"periodicity": "04", "months": f"{created.month:02d}", "year": created.year}
    stored = receipt(sandbox, "receipt_demo_mostrador")
    assert stored["status"] == "invoiced" and stored["invoice"]["uuid"] == stamped["uuid"]
    # A second stamp is refused by gigstack and creates nothing.
    invoices = sandbox.state.store.count(TEAM, "invoices")
    text = await call_err(
        mcp, "stamp_receipt", {"id": "receipt_demo_mostrador", "stamp_to": "general_public_national"}
    )
    assert "409" in text and "already invoiced" in text
    assert sandbox.state.store.count(TEAM, "invoices") == invoices


async def test_stamp_receipt_to_foreign_public(mcp, sandbox):
    stamped = await call_ok(
        mcp, "stamp_receipt", {"id": "receipt_demo_mostrador", "stamp_to": "general_public_foreign"}
    )
    inv = invoice(sandbox, stamped["uuid"])
    assert inv["client"]["tax_id"] == "XEXX010101000" and inv["use"] == "S01" and inv["global"] is None


async def test_stamp_receipt_to_client(mcp, sandbox):
    own = await call_ok(mcp, "stamp_receipt", {"id": "receipt_demo_juan", "stamp_to": "client"})
    assert (
        own["client"]["id"] == "client_juan_perez" and invoice(sandbox, own["uuid"])["payment_form"] == "03"
    )
    fi = await call_ok(
        mcp,
        "stamp_receipt",
        {"id": "receipt_demo_mostrador", "stamp_to": "client", "fiscal_information": LUCIA},
    )
    inv = invoice(sandbox, fi["uuid"])
    assert inv["client"]["tax_id"] == "GORL850315K29" and inv["client"]["zip"] == "06700"
    client = sandbox.state.store.get(TEAM, "clients", inv["client"]["id"])
    assert client["legal_name"] == "LUCIA GOMEZ RUIZ" and client["tax_system"] == "612"


async def test_stamp_receipt_errors(mcp, sandbox):
    assert "404" in await call_err(
        mcp, "stamp_receipt", {"id": "receipt_missing", "stamp_to": "general_public_national"}
    )
    before = len(sandbox.state.api_requests())
    assert "stamp_to" in await call_err(
        mcp, "stamp_receipt", {"id": "receipt_demo_juan", "stamp_to": "someone"}
    )
    text = await call_err(
        mcp,
        "stamp_receipt",
        {"id": "receipt_demo_juan", "stamp_to": "general_public_national", "fiscal_information": LUCIA},
    )
    assert "Not sent" in text
    assert "tax_id" in await call_err(
        mcp,
        "stamp_receipt",
        {"id": "receipt_demo_juan", "stamp_to": "client", "fiscal_information": {"tax_id": "BAD"}},
    )
    assert len(sandbox.state.api_requests()) == before
    # No client and no fiscal data: the guard reads the receipt, then refuses.
    text = await call_err(mcp, "stamp_receipt", {"id": "receipt_demo_mostrador", "stamp_to": "client"})
    assert "Not sent" in text and "fiscal_information" in text
    wrong_regimen = LUCIA | {"tax_system": "601"}  # 601 is for personas morales
    text = await call_err(
        mcp,
        "stamp_receipt",
        {"id": "receipt_demo_mostrador", "stamp_to": "client", "fiscal_information": wrong_regimen},
    )
    assert "REGIMEN-PERSONA" in text
    assert not sandbox.state.api_requests("POST", "receipt_demo_mostrador/stamp")
    assert receipt(sandbox, "receipt_demo_mostrador")["status"] == "pending"


async def test_stamp_client_pending_receipts(mcp, sandbox):
    ids = [
        (await call_ok(mcp, "create_receipt", {"client": {"id": "client_juan_perez"}, "items": [VENTA]}))[
            "id"
        ]
        for _ in range(2)
    ]
    other = await call_ok(mcp, "create_receipt", {"client": {"id": "client_acme"}, "items": [VENTA]})
    invoices = sandbox.state.store.count(TEAM, "invoices")
    result = await call_ok(mcp, "stamp_client_pending_receipts", {"id": "client_juan_perez"})
    assert result["stamped"] == 3 and result["failed"] == 0 and result["remaining"] == 0
    assert {r["id"] for r in result["results"]} == {"receipt_demo_juan", *ids}
    assert sandbox.state.store.count(TEAM, "invoices") == invoices + 3
    for rid in ids:
        stamped = receipt(sandbox, rid)
        assert stamped["status"] == "invoiced"
        assert invoice(sandbox, stamped["invoice"]["uuid"])["client"]["id"] == "client_juan_perez"
    assert receipt(sandbox, other["id"])["status"] == "pending"
    again = await call_ok(mcp, "stamp_client_pending_receipts", {"id": "client_juan_perez"})
    assert again["stamped"] == 0 and again["results"] == []


async def test_stamp_pending_receipts_reports_failures(mcp, sandbox):
    bad = await call_ok(mcp, "create_client", {"name": "Sin datos", "email": "nodata@example.com"})
    rid = (await call_ok(mcp, "create_receipt", {"client": {"id": bad["id"]}, "items": [VENTA]}))["id"]
    result = await call_ok(mcp, "stamp_client_pending_receipts", {"id": bad["id"]})
    assert result["stamped"] == 0 and result["failed"] == 1 and result["remaining"] == 1
    assert result["results"][0]["id"] == rid and result["results"][0]["status"] == "failed"
    assert receipt(sandbox, rid)["status"] == "pending"


# -- cancel ----------------------------------------------------------------------------------------


@both_eras
async def test_cancel_receipt_needs_confirmation(mcp, sandbox):
    first = await call_ok(mcp, "cancel_receipt", {"id": "receipt_demo_juan"})
    assert first["status"] == "confirmation_required" and "JUAN PEREZ GARCIA" in first["preview"]
    assert not sandbox.state.api_requests("DELETE")
    assert receipt(sandbox, "receipt_demo_juan")["status"] == "pending"
    done = await call_ok(
        mcp, "cancel_receipt", {"id": "receipt_demo_juan", "confirmation_token": first["confirmation_token"]}
    )
    assert done["status"] == "done" and done["result"]["status"] == "cancelled"
    assert receipt(sandbox, "receipt_demo_juan")["status"] == "cancelled"
    text = await call_err(
        mcp, "stamp_receipt", {"id": "receipt_demo_juan", "stamp_to": "general_public_national"}
    )
    assert "409" in text and "cancelled" in text


@both_eras
async def test_cancel_receipt_errors(mcp, sandbox, gigstack):
    assert "404" in await call_err(mcp, "cancel_receipt", {"id": "receipt_missing"})
    before = len(sandbox.state.api_requests())
    assert "id" in await call_err(mcp, "cancel_receipt", {})
    assert len(sandbox.state.api_requests()) == before
    stamped = await call_ok(mcp, "stamp_receipt", {"id": "receipt_demo_juan", "stamp_to": "client"})
    text = await call_err(mcp, "cancel_receipt", {"id": "receipt_demo_juan"})
    assert "Not sent" in text and stamped["uuid"] in text
    assert not sandbox.state.api_requests("DELETE")
    with pytest.raises(ConflictError, match="cancel that invoice instead"):
        await gigstack.delete("/receipts/receipt_demo_juan")
    assert receipt(sandbox, "receipt_demo_juan")["status"] == "invoiced"


# -- the self-invoice page -------------------------------------------------------------------------


async def test_autofactura_page_stamps_to_the_customer(sandbox):
    url = f"{sandbox.base_url}/autofactura?id=receipt_demo_mostrador"
    async with httpx.AsyncClient() as web:
        form = await web.get(url)
        assert form.status_code == 200 and "1,160.00 MXN" in form.text and "name='tax_id'" in form.text
        bad = await web.post(url, data=LUCIA | {"tax_system": "601"})
        assert bad.status_code == 422 and receipt(sandbox, "receipt_demo_mostrador")["status"] == "pending"
        done = await web.post(url, data=LUCIA)
        assert done.status_code == 200 and "Factura emitida" in done.text
        stored = receipt(sandbox, "receipt_demo_mostrador")
        assert stored["status"] == "invoiced"
        assert invoice(sandbox, stored["invoice"]["uuid"])["client"]["tax_id"] == "GORL850315K29"
        pdf_link = done.text.split("href='")[1].split("'")[0].replace("&amp;", "&")
        pdf = await web.get(pdf_link)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert (await web.get(f"{sandbox.base_url}/autofactura?id=receipt_missing")).status_code == 404


async def test_receipt_rows_carry_the_payment_form(mcp):
    """The monthly global invoice uses the forma de pago that paid the most: the rows must show it."""
    page = await call_ok(mcp, "list_receipts", {"limit": 100})
    assert page["data"] and all(r.get("payment_form") for r in page["data"])
    text = (await mcp.call_tool("list_receipts", {"limit": 100})).content[0].text
    assert "forma " in text
