"""Payments tools end to end (MCP client -> server -> httpx -> sandbox), asserted on sandbox state:
links, payments received with their invoices, PPD complements, refunds and cancellations."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client, types

from gigstack_mcp.client import BadRequestError, ConflictError
from gigstack_mcp.server import build_server

from .conftest import both_eras, call_err, call_ok, make_settings, one_era

pytestmark = [pytest.mark.anyio, one_era]
TEAM = "team_sandbox"
CONSULTORIA = {
    "description": "Consultoría marzo",
    "quantity": 1,
    "unit_price": 1000,
    "product_key": "80141503",
    "unit_key": "E48",
    "taxes": [{"type": "IVA", "rate": 0.16}],
}
REGISTER = {"client": {"id": "client_juan_perez"}, "items": [CONSULTORIA], "payment_form": "03"}


def count(sandbox, coll: str, pred=lambda d: True) -> int:
    return len(sandbox.state.store.find(TEAM, coll, pred))


def payment(sandbox, pid: str) -> dict:
    return sandbox.state.store.get(TEAM, "payments", pid)


# -- list / get ------------------------------------------------------------------------------------


async def test_list_payments_filters(mcp, sandbox):
    page = await call_ok(mcp, "list_payments", {})
    assert {p["id"] for p in page["data"]} == {
        "payment_demo_transfer",
        "payment_demo_card",
        "payment_demo_link",
    }
    paid = await call_ok(mcp, "list_payments", {"status": "succeeded"})
    assert {p["id"] for p in paid["data"]} == {"payment_demo_transfer", "payment_demo_card"}
    acme = await call_ok(mcp, "list_payments", {"client_id": "client_acme", "limit": 1})
    assert acme["total_results"] == 2 and acme["has_more"] and len(acme["data"]) == 1
    text = (await mcp.call_tool("list_payments", {"client_id": "client_acme"})).content[0].text
    assert "payment_demo_link" in text and "ACME INDUSTRIAL" in text


async def test_sandbox_payment_filters(gigstack):
    async def ids(**query) -> set[str]:
        return {p["id"] for p in (await gigstack.get("/payments", query=query))["data"]}

    assert await ids(tax_id="ain980512qx9") == {"payment_demo_card", "payment_demo_link"}
    assert await ids(email="JUAN@example.com") == {"payment_demo_transfer"}
    assert await ids(currency="mxn", status="canceled") == set()
    assert len(await ids(currency="MXN")) == 3 and await ids(currency="USD") == set()


async def test_list_payments_errors(mcp, sandbox):
    text = await call_err(mcp, "list_payments", {"next": "not-a-cursor"})
    assert "400" in text and "cursor" in text
    before = len(sandbox.state.api_requests())
    text = await call_err(mcp, "list_payments", {"status": "paid"})
    assert "status" in text and len(sandbox.state.api_requests()) == before


async def test_get_payment(mcp, sandbox):
    got = await call_ok(mcp, "get_payment", {"id": "payment_demo_link"})
    assert got["status"] == "requires_payment_method"
    assert got["short_url"] == f"{sandbox.base_url}/pay/payment_demo_link"
    assert got["total"] == 1160.0 and got["client"]["id"] == "client_acme"
    text = await call_err(mcp, "get_payment", {"id": "payment_missing"})
    assert "404" in text and "Payment not found" in text
    before = len(sandbox.state.api_requests())
    assert "id" in await call_err(mcp, "get_payment", {"id": ""})
    assert len(sandbox.state.api_requests()) == before


# -- request ---------------------------------------------------------------------------------------


async def test_request_payment_link(mcp, sandbox):
    args = {
        "client": {"id": "client_acme"},
        "items": [{"id": "service_hosting", "quantity": 3}],
        "allowed_payment_methods": ["card", "bank"],
        "automation_type": "pue_invoice",
    }
    link = await call_ok(mcp, "request_payment", args)
    assert link["status"] == "requires_payment_method" and link["total"] == 1740.0
    assert link["short_url"].startswith(sandbox.base_url + "/pay/payment_")
    stored = payment(sandbox, link["id"])
    assert stored["allowed_payment_methods"] == ["card", "bank"] and stored["invoices"] == []


async def test_request_payment_errors(mcp, sandbox):
    text = await call_err(mcp, "request_payment", {"client": {"id": "client_nobody"}, "items": [CONSULTORIA]})
    assert "404" in text and "Client not found" in text
    before = len(sandbox.state.api_requests())
    args = {"client": {"id": "client_acme"}, "items": [CONSULTORIA], "currency": "USD"}
    assert "exchange_rate" in await call_err(mcp, "request_payment", args)  # SAT rule MONEDA-TC
    assert "currency" in await call_err(mcp, "request_payment", args | {"currency": "usd"})
    assert "items" in await call_err(mcp, "request_payment", {"client": {"id": "client_acme"}, "items": []})
    assert not sandbox.state.api_requests("POST", "/payments")
    assert len(sandbox.state.api_requests()) <= before + 2  # the guard's GETs: the client, the issuer


# -- register --------------------------------------------------------------------------------------


async def test_register_payment_stamps_exactly_one_pue_invoice(mcp, sandbox):
    invoices_before = count(sandbox, "invoices")
    paid = await call_ok(mcp, "register_payment", REGISTER)
    assert paid["status"] == "succeeded" and paid["total"] == 1160.0 and paid["payment_form"] == "03"
    assert len(paid["invoices"]) == 1
    assert count(sandbox, "invoices") == invoices_before + 1
    invoice = sandbox.state.store.get(TEAM, "invoices", paid["invoices"][0])
    assert invoice["payment_method"] == "PUE" and invoice["payment_form"] == "03"
    assert invoice["total"] == 1160.0 and invoice["client"]["id"] == "client_juan_perez"


async def test_register_payment_same_idempotency_key_is_one_payment(mcp, sandbox):
    args = REGISTER | {"idempotency_key": "bank-tx-7781"}
    payments_before, invoices_before = count(sandbox, "payments"), count(sandbox, "invoices")
    first = await call_ok(mcp, "register_payment", args)
    second = await call_ok(mcp, "register_payment", args)
    assert first["id"] == second["id"] and first["invoices"] == second["invoices"]
    assert count(sandbox, "payments") == payments_before + 1
    assert count(sandbox, "invoices") == invoices_before + 1


async def test_register_payment_other_automations(mcp, sandbox):
    none = await call_ok(mcp, "register_payment", REGISTER | {"automation_type": "none"})
    assert none["status"] == "succeeded" and not none.get("invoices")
    ppd = await call_ok(mcp, "register_payment", REGISTER | {"automation_type": "ppd_invoice_and_complement"})
    invoice = sandbox.state.store.get(TEAM, "invoices", ppd["invoices"][0])
    assert invoice["payment_method"] == "PPD" and invoice["payment_form"] == "99"
    assert invoice["last_balance"] == 0.0 and len(ppd["complements"]) == 1
    receipt = await call_ok(mcp, "register_payment", REGISTER | {"automation_type": "receipt"})
    stored = sandbox.state.store.get(TEAM, "receipts", receipt["receipt"]["id"])
    assert stored["status"] == "pending" and stored["total"] == 1160.0


async def test_register_payment_errors(mcp, sandbox):
    created = await call_ok(mcp, "create_client", {"name": "Sin RFC", "email": "sinrfc@example.com"})
    text = await call_err(mcp, "register_payment", REGISTER | {"client": {"id": created["id"]}})
    assert "422" in text and "tax_id" in text  # gigstack cannot stamp its invoice
    assert count(sandbox, "payments", lambda d: d["client"]["id"] == created["id"]) == 0
    before = len(sandbox.state.api_requests())
    text = await call_err(mcp, "register_payment", REGISTER | {"payment_form": "99"})
    assert "Not sent" in text and "99" in text
    assert "payment_form" in await call_err(mcp, "register_payment", REGISTER | {"payment_form": "7"})
    # the field an earlier version invented: refused, saying what gigstack takes instead
    text = await call_err(mcp, "register_payment", REGISTER | {"invoices": ["X"]})
    assert "invoices is not a register_payment argument" in text and "ppd_invoice_and_complement" in text
    assert "automation_type none" in text and "complement in gigstack's app" in text
    assert len(sandbox.state.api_requests()) == before  # not even the guard's GET


# -- mark paid -------------------------------------------------------------------------------------


async def test_mark_payment_paid_runs_the_automation(mcp, sandbox):
    link = await call_ok(
        mcp,
        "request_payment",
        {"client": {"id": "client_acme"}, "items": [CONSULTORIA], "automation_type": "pue_invoice"},
    )
    invoices_before = count(sandbox, "invoices")
    paid = await call_ok(mcp, "mark_payment_paid", {"id": link["id"], "payment_form": "04"})
    assert paid["status"] == "succeeded" and paid["payment_form"] == "04" and len(paid["invoices"]) == 1
    assert count(sandbox, "invoices") == invoices_before + 1
    invoice = sandbox.state.store.get(TEAM, "invoices", paid["invoices"][0])
    assert invoice["payment_form"] == "04" and invoice["items"][0]["description"] == "Consultoría marzo"
    assert "raw_items" not in payment(sandbox, link["id"])


async def test_mark_payment_paid_errors(mcp, sandbox):
    text = await call_err(mcp, "mark_payment_paid", {"id": "payment_demo_transfer", "payment_form": "03"})
    assert "409" in text and "succeeded" in text
    before = len(sandbox.state.api_requests())
    text = await call_err(mcp, "mark_payment_paid", {"id": "payment_demo_link", "payment_form": "99"})
    assert "Not sent" in text
    assert "payment_form" in await call_err(mcp, "mark_payment_paid", {"id": "payment_demo_link"})
    assert len(sandbox.state.api_requests()) == before
    assert payment(sandbox, "payment_demo_link")["status"] == "requires_payment_method"


# -- refund ----------------------------------------------------------------------------------------


@both_eras
async def test_refund_needs_confirmation_then_refunds(mcp, sandbox):
    first = await call_ok(
        mcp, "refund_payment", {"id": "payment_demo_transfer", "amount": 1000, "reason": "descuento"}
    )
    assert first["status"] == "confirmation_required"
    preview = first["preview"]
    assert "1,000.00 MXN" in preview and "payment_demo_transfer" in preview and "JUAN PEREZ GARCIA" in preview
    assert "outside gigstack" in preview
    assert not sandbox.state.api_requests("POST", "/refund")
    assert payment(sandbox, "payment_demo_transfer")["refunded_amount"] == 0.0
    args = {"id": "payment_demo_transfer", "amount": 1000, "reason": "descuento"}
    done = await call_ok(mcp, "refund_payment", args | {"confirmation_token": first["confirmation_token"]})
    assert done["status"] == "done" and done["result"]["refunded_amount"] == 1000.0
    stored = payment(sandbox, "payment_demo_transfer")
    assert stored["status"] == "succeeded" and stored["refunds"][0]["reason"] == "descuento"
    rest = {"id": "payment_demo_transfer", "amount": 1320}
    token = (await call_ok(mcp, "refund_payment", rest))["confirmation_token"]
    done = await call_ok(mcp, "refund_payment", rest | {"confirmation_token": token})
    assert (
        done["result"]["status"] == "refunded"
        and payment(sandbox, "payment_demo_transfer")["refunded_amount"] == 2320.0
    )


@both_eras
async def test_refund_through_the_processor(mcp, sandbox):
    args = {"id": "payment_demo_card", "amount": 580, "external_processor_refund": True}
    first = await call_ok(mcp, "refund_payment", args)
    assert "through stripe" in first["preview"]
    done = await call_ok(mcp, "refund_payment", args | {"confirmation_token": first["confirmation_token"]})
    assert done["result"]["status"] == "refunded"
    assert payment(sandbox, "payment_demo_card")["refunds"][0]["external_processor_refund"] is True


@both_eras
async def test_refund_errors(mcp, sandbox, gigstack):
    text = await call_err(mcp, "refund_payment", {"id": "payment_missing", "amount": 10})
    assert "404" in text
    before = len(sandbox.state.api_requests())
    assert "amount" in await call_err(mcp, "refund_payment", {"id": "payment_demo_transfer", "amount": 0})
    assert len(sandbox.state.api_requests()) == before
    text = await call_err(mcp, "refund_payment", {"id": "payment_demo_transfer", "amount": 5000})
    assert "Not sent" in text and "2,320.00" in text
    text = await call_err(
        mcp,
        "refund_payment",
        {"id": "payment_demo_transfer", "amount": 10, "external_processor_refund": True},
    )
    assert "Not sent" in text and "processor" in text
    text = await call_err(mcp, "refund_payment", {"id": "payment_demo_link", "amount": 10})
    assert "Not sent" in text and "requires_payment_method" in text
    assert not sandbox.state.api_requests("POST", "/refund")
    # The sandbox itself enforces the same rules.
    with pytest.raises(BadRequestError, match="refundable"):
        await gigstack.post("/payments/payment_demo_transfer/refund", json={"amount": 5000})
    with pytest.raises(ConflictError, match="external_processor_refund"):
        await gigstack.post(
            "/payments/payment_demo_transfer/refund", json={"amount": 1, "external_processor_refund": True}
        )
    with pytest.raises(ConflictError, match="cancel"):
        await gigstack.post("/payments/payment_demo_link/refund", json={"amount": 1})


# -- cancel ----------------------------------------------------------------------------------------


@both_eras
async def test_cancel_payment_needs_confirmation(mcp, sandbox):
    first = await call_ok(mcp, "cancel_payment", {"id": "payment_demo_link"})
    assert first["status"] == "confirmation_required" and "ACME INDUSTRIAL" in first["preview"]
    assert not sandbox.state.api_requests("DELETE")
    assert payment(sandbox, "payment_demo_link")["status"] == "requires_payment_method"
    done = await call_ok(
        mcp, "cancel_payment", {"id": "payment_demo_link", "confirmation_token": first["confirmation_token"]}
    )
    assert done["status"] == "done" and done["result"]["status"] == "cancelled"
    assert payment(sandbox, "payment_demo_link")["status"] == "cancelled"


@both_eras
async def test_cancel_payment_errors(mcp, sandbox, gigstack):
    assert "404" in await call_err(mcp, "cancel_payment", {"id": "payment_missing"})
    text = await call_err(mcp, "cancel_payment", {"id": "payment_demo_transfer"})
    assert "Not sent" in text and "refund it instead" in text
    before = len(sandbox.state.api_requests())
    assert "id" in await call_err(mcp, "cancel_payment", {})
    assert len(sandbox.state.api_requests()) == before
    assert not sandbox.state.api_requests("DELETE")
    with pytest.raises(ConflictError, match="refund it instead"):
        await gigstack.delete("/payments/payment_demo_transfer")
    assert payment(sandbox, "payment_demo_transfer")["status"] == "succeeded"


# -- the payment link page -------------------------------------------------------------------------


@both_eras
async def test_payment_link_page_pays_by_card(mcp, sandbox):
    link = await call_ok(
        mcp,
        "request_payment",
        {"client": {"id": "client_acme"}, "items": [CONSULTORIA], "automation_type": "pue_invoice"},
    )
    async with httpx.AsyncClient() as web:
        page = await web.get(link["short_url"])
        assert page.status_code == 200 and "1,160.00 MXN" in page.text and "Pagar" in page.text
        paid = await web.post(link["short_url"])
        assert paid.status_code == 200 and "succeeded" in paid.text
        assert (await web.get(f"{sandbox.base_url}/pay/payment_missing")).status_code == 404
    stored = payment(sandbox, link["id"])
    assert (
        stored["status"] == "succeeded"
        and stored["payment_processor"] == "stripe"
        and len(stored["invoices"]) == 1
    )
    # Collected through the processor, so it can be refunded through it.
    args = {"id": link["id"], "amount": 100, "external_processor_refund": True}
    first = await call_ok(mcp, "refund_payment", args)
    done = await call_ok(mcp, "refund_payment", args | {"confirmation_token": first["confirmation_token"]})
    assert done["result"]["refunded_amount"] == 100.0


async def test_refund_with_elicitation(sandbox):
    seen: list[str] = []

    async def yes(ctx, params):
        seen.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with Client(build_server(make_settings(sandbox)), elicitation_callback=yes) as client:
        done = await call_ok(client, "refund_payment", {"id": "payment_demo_transfer", "amount": 20})
        assert done["status"] == "done" and "20.00 MXN" in seen[0]
        text = await call_err(client, "refund_payment", {"id": "payment_demo_transfer", "amount": 9999})
        assert "Not sent" in text and len(seen) == 1  # the human is not asked about a refused refund
    assert payment(sandbox, "payment_demo_transfer")["refunded_amount"] == 20.0
