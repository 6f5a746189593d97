"""Payment complements (CFDI type P) and results that say what happened, end to end: MCP client session
-> server -> httpx -> sandbox on 127.0.0.1.

- list_payment_complements / get_payment_complement read GET /invoices/payment[?invoice_id=] and
  GET /invoices/payment/{uuid} (gigstack-api.md §2.3; the official CLI's `invoices complements`).
- register_payment reaches PPD the way gigstack documents it: automation_type ppd_invoice_and_complement
  (the PPD invoice for the items, unless the payment has one, plus this payment's complement). The
  `invoices` field an earlier version invented is refused with what to do instead.
- Invoice results carry the date (Mexico City), type, use, method and form, currency and rate, every
  amount, the balance and complements, related documents and the real cancellation state; payments
  their concepts; get_team the issuer's CP and régimen.
"""

from __future__ import annotations

import pytest

from gigstack_mcp import clock as gigstack_clock
from gigstack_mcp.client import BadRequestError
from gigstack_mcp.models.invoices import Invoice
from gigstack_mcp.sandbox.examples import income_invoice, item

from .conftest import call_err, call_ok, call_refused, one_era

pytestmark = [pytest.mark.anyio, one_era]
TEAM = "team_sandbox"
MISSING = "00000000-0000-4000-8000-000000000000"
PAID_PPD = {
    "client": {"id": "client_acme"},
    "items": [{"id": "service_consultoria", "quantity": 1}],  # 1,000.00 + IVA = 1,160.00
    "payment_form": "03",
    "automation_type": "ppd_invoice_and_complement",
}


def stored(sandbox, uuid: str) -> dict:
    return sandbox.state.store.get(TEAM, "invoices", uuid)


async def text_of(mcp, tool: str, args: dict) -> str:
    result = await mcp.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.content[0].text


# -- register_payment: gigstack's PPD mechanism ----------------------------------------------------------


async def test_register_ppd_sends_the_documented_automation(mcp, sandbox):
    paid = await call_ok(mcp, "register_payment", PAID_PPD)
    body = sandbox.state.api_requests("POST", "^/payments/register$")[-1]["body"]
    assert body["automation_type"] == "ppd_invoice_and_complement" and "invoices" not in body
    [ppd_uuid], [complement_uuid] = paid["invoices"], paid["complements"]
    ppd, complement = stored(sandbox, ppd_uuid), stored(sandbox, complement_uuid)
    assert (ppd["payment_method"], ppd["payment_form"], ppd["total"]) == ("PPD", "99", 1160.0)
    assert ppd["last_balance"] == 0.0 and ppd["payment_complements"] == 1
    assert complement["invoice_type"] == "P" and complement["invoice_id"] == ppd_uuid
    pay = complement["payment"]
    assert (pay["amount"], pay["payment_form"], pay["installment"]) == (1160.0, "03", 1)
    # the result names what was stamped, and what was paid for
    text = await text_of(mcp, "get_payment", {"id": paid["id"]})
    assert ppd_uuid in text and complement_uuid in text and "Consultoría" in text


async def test_the_invented_invoices_field_is_refused_with_what_to_do(mcp, sandbox, gigstack):
    seeded_ppd = next(
        iter(sandbox.state.store.find(TEAM, "invoices", lambda d: d.get("payment_method") == "PPD"))
    )
    args = PAID_PPD | {"invoices": [seeded_ppd["uuid"]]}
    await call_refused(
        mcp,
        sandbox,
        "register_payment",
        args,
        "invoices is not a register_payment argument",
        "ppd_invoice_and_complement",
    )
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    assert "invoices" not in tools["register_payment"].input_schema["properties"]
    # gigstack's contract has no such field either: the sandbox refuses it, names it, changes nothing
    with pytest.raises(BadRequestError, match="invoices"):
        await gigstack.post("/payments/register", json=PAID_PPD | {"invoices": [seeded_ppd["uuid"]]})
    assert stored(sandbox, seeded_ppd["uuid"])["payment_complements"] == 0


async def test_a_ppd_link_paid_later_gets_its_complement_dated_when_paid(mcp, sandbox):
    link = await call_ok(
        mcp,
        "request_payment",
        {k: v for k, v in PAID_PPD.items() if k != "payment_form"} | {"allowed_payment_methods": ["bank"]},
    )
    assert not link.get("invoices") and not link.get("complements")  # nothing stamped before the money
    paid_on = gigstack_clock.unix() - 2 * 86400  # the transfer arrived two days ago
    paid = await call_ok(mcp, "mark_payment_paid", {"id": link["id"], "payment_form": "03", "date": paid_on})
    [complement_uuid] = paid["complements"]
    got = await call_ok(mcp, "get_payment_complement", {"uuid": complement_uuid})
    assert got["payment"]["date"] == paid_on and got["invoice_id"] == paid["invoices"][0]
    text = await text_of(mcp, "get_payment_complement", {"uuid": complement_uuid})
    assert "form 03 on 2026-05-12 12:00" in text  # CLOCK_START minus two days, Mexico City time


# -- list / get payment complements ------------------------------------------------------------------------


async def test_list_and_get_payment_complements(mcp, sandbox):
    first = await call_ok(mcp, "register_payment", PAID_PPD)
    juan = PAID_PPD | {"client": {"id": "client_juan_perez"}, "payment_form": "28"}
    second = await call_ok(mcp, "register_payment", juan)
    everything = await call_ok(mcp, "list_payment_complements", {})
    assert {c["uuid"] for c in everything["data"]} == {first["complements"][0], second["complements"][0]}
    assert all(c["invoice_type"] == "P" for c in everything["data"])
    # one PPD invoice's complements: the filter reaches gigstack as invoice_id
    ppd_uuid = first["invoices"][0]
    page = await call_ok(mcp, "list_payment_complements", {"invoice_id": ppd_uuid.lower()})
    assert [c["uuid"] for c in page["data"]] == first["complements"]
    request = sandbox.state.api_requests("GET", "^/invoices/payment$")[-1]
    assert request["query"]["invoice_id"] == ppd_uuid.lower()
    row = (await text_of(mcp, "list_payment_complements", {"invoice_id": ppd_uuid})).splitlines()[1]
    assert f"pays {ppd_uuid} #1 1,160.00 MXN form 03" in row and "saldo after 0.00" in row
    # one complement: the pago it records
    got = await call_ok(mcp, "get_payment_complement", {"uuid": second["complements"][0]})
    assert got["invoice_id"] == second["invoices"][0] and got["payment"]["payment_form"] == "28"
    assert got["payment"]["previous_balance"] == 1160.0 and got["payment"]["remaining_balance"] == 0.0
    text = await text_of(mcp, "get_payment_complement", {"uuid": second["complements"][0]})
    assert text.startswith("Payment complement P-")
    assert f"payment: pays {second['invoices'][0]}, installment 1, 1,160.00 MXN, form 28" in text
    assert "balance 1,160.00 -> 0.00" in text


async def test_payment_complement_errors(mcp, sandbox):
    income = next(iter(sandbox.state.store.find(TEAM, "invoices", lambda d: d.get("invoice_type") == "I")))
    # an income invoice is not a complement; an unknown one is not found: gigstack's 404 comes back
    assert "404" in await call_err(mcp, "get_payment_complement", {"uuid": income["uuid"]})
    assert "404" in await call_err(mcp, "get_payment_complement", {"uuid": MISSING})
    assert (await call_ok(mcp, "list_payment_complements", {"invoice_id": MISSING}))["data"] == []
    # not a UUID, a bad limit: refused here, nothing sent
    await call_refused(mcp, sandbox, "get_payment_complement", {"uuid": "../clients"}, "uuid")
    await call_refused(mcp, sandbox, "list_payment_complements", {"invoice_id": "A-12"}, "invoice_id")
    await call_refused(mcp, sandbox, "list_payment_complements", {"limit": 500}, "limit")


# -- invoice results -----------------------------------------------------------------------------------------


async def test_invoice_result_says_what_a_model_must_act_on(mcp, sandbox, clock):
    clock.set("2026-05-15T05:30:00+00:00")  # 23:30 on the 14th in Mexico City: the date is Mexico's
    args = income_invoice(
        item(1000, 2, discount=200),
        item(
            500, 1, taxes=[{"type": "IVA", "rate": 0.16}, {"type": "ISR", "rate": 0.10, "withholding": True}]
        ),
        currency="USD",
        exchange_rate=17.25,
    )
    created = await call_ok(mcp, "create_income_invoice", args)
    got = await call_ok(mcp, "get_income_invoice", {"uuid": created["uuid"]})
    doc = stored(sandbox, created["uuid"])
    assert got["created_at"] == doc["created_at"] == gigstack_clock.unix()
    for field in ("invoice_type", "use", "payment_method", "payment_form", "currency", "exchange_rate"):
        assert got[field] == doc[field], field
    assert (got["invoice_type"], got["currency"], got["exchange_rate"]) == ("I", "USD", 17.25)
    assert (got["subtotal"], got["discount"]) == (2500.0, 200.0)
    assert (got["transferred_taxes"], got["withheld_taxes"]) == (doc["transferred_taxes"], 50.0)
    assert got["total"] == doc["total"] == round(2300 + doc["transferred_taxes"] - 50, 2)
    text = await text_of(mcp, "get_income_invoice", {"uuid": created["uuid"]})
    assert f"uuid: {created['uuid']} | created_at: 2026-05-14 23:30 (Mexico City)" in text
    assert "use: G03 | payment_method: PUE | payment_form: 03" in text
    assert "discount: 200.00" in text and "withheld_taxes: 50.00" in text
    assert f"total: {doc['total']:,.2f} USD | exchange_rate: 17.25" in text
    assert len(text) < 1200  # compact


async def test_ppd_invoice_shows_balance_complements_and_related(mcp, sandbox):
    paid = await call_ok(mcp, "register_payment", PAID_PPD)
    ppd_uuid = paid["invoices"][0]
    got = await call_ok(mcp, "get_income_invoice", {"uuid": ppd_uuid})
    assert (got["last_balance"], got["payment_complements"]) == (0.0, 1)
    text = await text_of(mcp, "get_income_invoice", {"uuid": ppd_uuid})
    assert "last_balance: 0.00 | payment_complements: 1" in text
    assert f"list_payment_complements invoice_id={ppd_uuid}" in text
    credit = await call_ok(
        mcp,
        "create_egress_invoice",
        income_invoice(
            item(100), use="G02", related_documents=[{"relationship": "01", "documents": [ppd_uuid]}]
        ),
    )
    egress = await call_ok(mcp, "get_egress_invoice", {"uuid": credit["uuid"]})
    assert egress["related_documents"] == [{"relationship": "01", "documents": [ppd_uuid]}]
    assert f"related_documents: 01 {ppd_uuid}" in await text_of(
        mcp, "get_egress_invoice", {"uuid": credit["uuid"]}
    )


async def test_a_cancellation_awaiting_the_receiver_is_not_cancelled(mcp, sandbox, gigstack):
    pue = next(iter(sandbox.state.store.find(TEAM, "invoices", lambda d: d.get("payment_method") == "PUE")))
    await gigstack.delete(f"/invoices/{pue['uuid']}", json={"motive": "02"})  # 2,320.00 to an RFC
    assert stored(sandbox, pue["uuid"])["cancellation_status"] == "pending_acceptance"
    got = await call_ok(mcp, "get_income_invoice", {"uuid": pue["uuid"]})
    assert got["cancellation_status"] == "pending_acceptance"
    text = await text_of(mcp, "get_income_invoice", {"uuid": pue["uuid"]})
    assert "status: valid (cancellation awaiting the receiver's acceptance)" in text
    rows = await text_of(mcp, "list_income_invoices", {"client_id": "client_juan_perez"})
    assert "valid (cancellation awaiting" in rows and "| cancelled" not in rows


def test_taxes_split_from_the_items_when_gigstack_gives_only_the_net():
    """gigstack's documented invoice answer (gigstack-api.md §3.5) has only `taxes` (the net); the
    sandbox always sends both sides, so this reads such an answer directly."""
    answer = {
        "uuid": MISSING,
        "taxes": 110.0,
        "items": [
            {"description": "x", "amount": 1000, "taxes": [{"type": "IVA", "amount": 160.0}]},
            {
                "description": "y",
                "amount": 500,
                "taxes": [{"type": "ISR", "withholding": True, "amount": 50.0}],
            },
        ],
    }
    invoice = Invoice.model_validate(answer)
    assert (invoice.transferred_taxes, invoice.withheld_taxes, invoice.taxes) == (160.0, 50.0, 110.0)
    assert Invoice.model_validate({"uuid": MISSING}).transferred_taxes is None  # nothing to split: unknown


# -- payments and the team ----------------------------------------------------------------------------------


async def test_payment_and_team_results(mcp, sandbox):
    text = await text_of(mcp, "list_payments", {"client_id": "client_acme"})
    assert "Hosting" in text or "hosting" in text.lower()  # the concept paid for
    got = await call_ok(mcp, "get_payment", {"id": "payment_demo_transfer"})
    assert got["items"] and got["items"][0]["description"]
    team = await call_ok(mcp, "get_team", {"id": TEAM})
    assert team["tax_system"] == "601" and team["address"]["zip"] == "64000"
    rows = await text_of(mcp, "list_teams", {})
    assert "régimen 601 | CP 64000" in rows
