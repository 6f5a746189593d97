"""Invoices tools end to end: MCP client session -> server -> httpx -> sandbox on 127.0.0.1."""

from __future__ import annotations

import base64
import importlib
import xml.etree.ElementTree as ET

import pytest
from mcp import Client

from gigstack_mcp import clock
from gigstack_mcp.client import BadRequestError
from gigstack_mcp.sandbox._invoicing import add_payment_complement, build_invoice, local_ctx
from gigstack_mcp.sandbox.examples import income_invoice, item
from gigstack_mcp.server import build_server

from .conftest import both_eras, call_err, call_ok, make_settings, one_era

pytestmark = [pytest.mark.anyio, one_era]
invoices_tools = importlib.import_module("gigstack_mcp.tools.invoices")  # the module, not the Toolset
TEAM = "team_sandbox"
MISSING = "00000000-0000-4000-8000-000000000000"
ITEM = item(1000, 2)
INVOICE = income_invoice(ITEM)


def requests_count(sandbox) -> int:
    return len(sandbox.state.api_requests())


def seeded(sandbox, method: str) -> dict:
    return next(
        d for d in sandbox.state.store.find(TEAM, "invoices", lambda d: d.get("payment_method") == method)
    )


# -- income -----------------------------------------------------------------------------------------


async def test_create_income_invoice(mcp, sandbox):
    inv = await call_ok(mcp, "create_income_invoice", {**INVOICE, "metadata": {"order": "981"}})
    assert (inv["subtotal"], inv["taxes"], inv["total"]) == (2000, 320, 2320)
    assert inv["status"] == "stamped" and inv["series"] == "A" and inv["folio_number"] == 3
    assert inv["client"]["tax_id"] == "AIN980512QX9" and inv["files"]["pdf"].startswith("http://127.0.0.1")
    stored = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])
    assert stored["status"] == "valid" and stored["metadata"] == {"order": "981"}
    body = sandbox.state.api_requests("POST", "^/invoices/income$")[-1]["body"]
    assert body["idempotency_key"].startswith("gsmcp-")  # made by the client


GLOBAL_TICKET = {  # one ticket per concepto, as the SAT's global-invoice guide fills it
    "description": "Venta",
    "quantity": 1,
    "unit_price": 5000,
    "product_key": "01010101",
    "unit_key": "ACT",
    "taxes": [{"type": "IVA", "rate": 0.16}],
}


async def test_create_with_inline_client_global_and_withholdings(mcp, sandbox):
    args = {
        "client": {
            "legal_name": "LUCIA GOMEZ RUIZ",
            "tax_id": "GORL850315K29",
            "tax_system": "612",
            "email": "lucia@example.com",
            "address": {"zip": "06700"},
            "search": {"on_key": "tax_id", "on_value": "GORL850315K29"},
        },
        "items": [
            {
                "description": "Honorarios",
                "unit_price": 10000,
                "product_key": "80111600",
                "unit_key": "E48",
                "taxes": [
                    {"type": "IVA", "rate": 0.16},
                    {"type": "ISR", "rate": 0.10, "withholding": True},
                    {"type": "IVA", "rate": 0.106667, "withholding": True},
                ],
            }
        ],
        "use": "G03",
        "payment_form": "99",
        "payment_method": "PPD",
    }
    inv = await call_ok(mcp, "create_income_invoice", args)
    assert inv["total"] == 9533.33 and inv["last_balance"] == 9533.33
    again = await call_ok(mcp, "create_income_invoice", args)
    assert again["client"]["id"] == inv["client"]["id"]  # the search reused the client
    general = await call_ok(
        mcp,
        "create_income_invoice",
        {
            "client": {"id": "client_publico_general"},
            "items": [GLOBAL_TICKET],
            "use": "S01",
            "payment_form": "01",
            "global": {"periodicity": "04", "months": "01", "year": 2026},
        },
    )
    assert general["total"] == 5800
    assert sandbox.state.store.get(TEAM, "invoices", general["uuid"])["global"]["periodicity"] == "04"


async def test_guard_rails_refuse_before_any_request(mcp, sandbox):
    before = len(sandbox.state.api_requests("POST"))
    cases = [
        ({**INVOICE, "use": "P01"}, "USO-CATALOG"),  # voided in CFDI 4.0
        ({**INVOICE, "payment_method": "PPD", "payment_form": "03"}, "PPD-FORMA-99"),
        ({**INVOICE, "payment_method": "PUE", "payment_form": "99"}, "PUE-FORMA-NOT-99"),
        (
            {**INVOICE, "client": {"id": "client_acme"}, "use": "D01"},
            "USO-REGIMEN",
        ),  # moral + deducción personal
        ({**INVOICE, "client": {"id": "client_publico_general"}, "use": "G03"}, "USO-REGIMEN"),
        (
            {
                "client": {"id": "client_publico_general"},
                "items": [{**GLOBAL_TICKET, "quantity": 10}],
                "use": "S01",
                "payment_form": "01",
                "global": {"periodicity": "04", "months": "01", "year": 2026},
            },
            "GLOBAL-FILL",
        ),
        ({**INVOICE, "global": {"periodicity": "04", "months": "01", "year": 2026}}, "GLOBAL"),
        ({**INVOICE, "currency": "USD"}, "MONEDA-TC"),
    ]
    for args, rule in cases:
        text = await call_err(mcp, "create_income_invoice", args)
        assert rule in text and "Not sent to gigstack" in text, (rule, text)
        assert "allowed" in text and "permitido" in text  # names what is allowed, in English and Spanish
    assert len(sandbox.state.api_requests("POST")) == before


@both_eras
async def test_cancel_guard_motive_01_needs_substitution(mcp, sandbox):
    uuid = (await call_ok(mcp, "create_income_invoice", INVOICE))["uuid"]
    text = await call_err(mcp, "cancel_invoice", {"uuid": uuid, "motive": "01"})
    assert "CANCEL-01-UUID" in text
    text = await call_err(mcp, "cancel_invoice", {"uuid": uuid, "motive": "01", "substitution_uuid": uuid})
    assert "CANCEL-01-UUID" in text
    assert not sandbox.state.api_requests("DELETE")


async def test_idempotency_key_never_duplicates(mcp, sandbox):
    args = {**INVOICE, "idempotency_key": "order-981-a"}
    first = await call_ok(mcp, "create_income_invoice", args)
    second = await call_ok(mcp, "create_income_invoice", args)
    assert first["uuid"] == second["uuid"]
    assert sandbox.state.store.count(TEAM, "invoices") == 3
    request = sandbox.state.api_requests("POST", "^/invoices/income$")[-1]
    assert request["body"]["idempotency_key"] == "order-981-a" and request.get("replayed")


async def test_create_income_gigstack_errors(mcp, sandbox):
    text = await call_err(mcp, "create_income_invoice", {**INVOICE, "client": {"id": "client_missing"}})
    assert "404" in text and "Client not found" in text
    # Only gigstack knows which services exist: its 404 comes back as an actionable tool error.
    text = await call_err(mcp, "create_income_invoice", {**INVOICE, "items": [{"id": "service_missing"}]})
    assert "404" in text and "Service not found" in text
    assert sandbox.state.store.count(TEAM, "invoices") == 2


@pytest.mark.parametrize(
    "change",
    [
        {"items": []},
        {"items": [{**ITEM, "quantity": 0}]},
        {"items": [{**ITEM, "unit_price": -5}]},
        {"items": [{**ITEM, "product_key": "801415"}]},
        {"items": [{**ITEM, "taxes": [{"type": "VAT", "rate": 0.16}]}]},
        {"items": [{**ITEM, "colour": "red"}]},
        {"payment_form": "07"},
        {"payment_method": "PPU"},
        {"use": "g03"},
        {"currency": "pesos"},
        {"global": {"periodicity": "04", "months": "19", "year": 2026}},
        {"related_documents": [{"relationship": "09", "documents": [MISSING]}]},
        {"related_documents": [{"relationship": "04", "documents": ["not-a-uuid"]}]},
        {"client": {"tax_id": "NOT-AN-RFC"}},
        {"idempotency_key": "bad key"},
        {"serie": "A"},
    ],
)
async def test_create_income_bad_arguments_send_nothing(mcp, sandbox, change):
    before = requests_count(sandbox)
    text = await call_err(mcp, "create_income_invoice", {**INVOICE, **change})
    assert "Invalid" in text or "argument" in text.lower() or "validation" in text.lower()
    assert requests_count(sandbox) == before


async def test_get_income_invoice(mcp, sandbox):
    uuid = seeded(sandbox, "PPD")["uuid"]
    inv = await call_ok(mcp, "get_income_invoice", {"uuid": uuid.lower()})
    assert inv["uuid"] == uuid and inv["payment_method"] == "PPD" and inv["last_balance"] == 6960
    assert inv["items"][0]["description"] == "Hosting mensual" and inv["items"][0]["quantity"] == 12
    text = await call_err(mcp, "get_income_invoice", {"uuid": MISSING})
    assert "404" in text and "not found" in text
    before = requests_count(sandbox)
    assert "uuid" in await call_err(mcp, "get_income_invoice", {"uuid": "A-124"})
    assert requests_count(sandbox) == before


# -- lists ------------------------------------------------------------------------------------------


async def test_list_income_invoices_and_filters(mcp, sandbox):
    page = await call_ok(mcp, "list_income_invoices", {})
    assert page["total_results"] == 2 and [d["payment_method"] for d in page["data"]] == ["PPD", "PUE"]
    assert page["data"][0]["last_balance"] == 6960
    juan = await call_ok(mcp, "list_income_invoices", {"client_id": "client_juan_perez"})
    assert [d["client"]["id"] for d in juan["data"]] == ["client_juan_perez"]
    ppd = await call_ok(mcp, "list_income_invoices", {"payment_method": "PPD", "status": "valid"})
    assert len(ppd["data"]) == 1
    assert sandbox.state.api_requests("GET", "^/invoices/income$")[-1]["query"] == {
        "limit": "10",
        "payment_method": "PPD",
        "status": "valid",
    }
    result = await mcp.call_tool("list_income_invoices", {"client_id": "client_acme"})
    assert "A-2 |" in result.content[0].text and "saldo 6,960.00" in result.content[0].text


async def test_list_by_dates(mcp, sandbox):
    fresh = await call_ok(mcp, "create_income_invoice", INVOICE)
    today = clock.today_mx().isoformat()
    page = await call_ok(mcp, "list_income_invoices", {"date_from": today})
    assert [d["uuid"] for d in page["data"]] == [fresh["uuid"]]  # the seeded ones are days old
    query = sandbox.state.api_requests("GET", "^/invoices/income$")[-1]["query"]
    assert (
        int(query["created[gte]"]) <= sandbox.state.store.get(TEAM, "invoices", fresh["uuid"])["created_at"]
    )
    old = await call_ok(mcp, "list_income_invoices", {"date_to": "2020-01-31"})
    assert old["data"] == []
    assert int(sandbox.state.api_requests("GET", "^/invoices/income$")[-1]["query"]["created[lte]"]) == (
        1580536799  # 2020-01-31 23:59:59 in Mexico City (UTC-6)
    )


async def test_find_by_folio_pages_locally(mcp, sandbox, monkeypatch):
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    made = [build_invoice(ctx, {"client": {"id": "client_acme"}, "items": [ITEM]}, "I") for _ in range(30)]
    target = made[4]  # folio 7
    found = await call_ok(
        mcp, "list_income_invoices", {"series": "A", "folio_number": target["folio_number"]}
    )
    assert [d["uuid"] for d in found["data"]] == [target["uuid"]] and "note" not in found
    assert all("folio_number" not in r["query"] for r in sandbox.state.api_requests("GET", "^/invoices"))
    monkeypatch.setattr(invoices_tools, "FOLIO_SCAN", 10)
    bounded = await call_ok(mcp, "list_income_invoices", {"folio_number": target["folio_number"]})
    assert bounded["data"] == [] and "newest 10" in bounded["note"]
    newest = await call_ok(mcp, "list_income_invoices", {"folio_number": made[-1]["folio_number"]})
    assert [d["uuid"] for d in newest["data"]] == [made[-1]["uuid"]]


async def test_list_pages_through_many_invoices(mcp, sandbox):
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    for _ in range(23):
        build_invoice(ctx, {"client": {"id": "client_acme"}, "items": [ITEM]}, "I")
    seen, cursor = [], None
    while True:
        page = await call_ok(
            mcp, "list_income_invoices", {"limit": 10} | ({"next": cursor} if cursor else {})
        )
        seen += [d["uuid"] for d in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next"]
    assert len(seen) == len(set(seen)) == 25


async def test_list_errors(mcp, sandbox):
    text = await call_err(mcp, "list_income_invoices", {"next": "bogus"})
    assert "400" in text and "cursor" in text
    before = requests_count(sandbox)
    for bad in ({"status": "paid"}, {"date_from": "31/01/2026"}, {"limit": 500}, {"folio_number": 0}):
        await call_err(mcp, "list_income_invoices", bad)
        await call_err(mcp, "list_egress_invoices", bad)
    assert requests_count(sandbox) == before


async def test_team_argument_is_scoped(mcp):
    text = await call_err(mcp, "list_income_invoices", {"team": "team_someone_else"})
    assert "403" in text and "team" in text


# -- egress -----------------------------------------------------------------------------------------


async def test_egress_invoice_flow(mcp, sandbox):
    income = seeded(sandbox, "PUE")
    args = {
        **INVOICE,
        "use": "G02",
        "items": [{**ITEM, "quantity": 1, "unit_price": 500, "description": "Descuento"}],
        "related_documents": [{"relationship": "01", "documents": [income["uuid"]]}],
    }
    egress = await call_ok(mcp, "create_egress_invoice", args)
    assert egress["series"] == "E" and egress["total"] == 580
    got = await call_ok(mcp, "get_egress_invoice", {"uuid": egress["uuid"]})
    assert got["uuid"] == egress["uuid"]
    listed = await call_ok(mcp, "list_egress_invoices", {})
    assert [d["uuid"] for d in listed["data"]] == [egress["uuid"]]
    stored = sandbox.state.store.get(TEAM, "invoices", egress["uuid"])
    assert stored["invoice_type"] == "E"
    assert stored["related_documents"] == [{"relationship": "01", "documents": [income["uuid"]]}]


async def test_egress_errors(mcp, sandbox):
    args = {**INVOICE, "use": "G02", "related_documents": [{"relationship": "01", "documents": [MISSING]}]}
    text = await call_err(mcp, "create_egress_invoice", args)
    assert "400" in text and "not an income invoice" in text
    text = await call_err(mcp, "get_egress_invoice", {"uuid": seeded(sandbox, "PUE")["uuid"]})
    assert "404" in text  # an income invoice is not an egress one
    before = requests_count(sandbox)
    await call_err(mcp, "create_egress_invoice", {**args, "related_documents": [{"relationship": "01"}]})
    await call_err(mcp, "get_egress_invoice", {"uuid": "nope"})
    assert requests_count(sandbox) == before
    assert sandbox.state.store.count(TEAM, "invoices") == 2


# -- files ------------------------------------------------------------------------------------------


async def test_get_invoice_files_links(mcp, sandbox):
    uuid = seeded(sandbox, "PUE")["uuid"]
    files = await call_ok(mcp, "get_invoice_files", {"uuid": uuid})
    assert ".pdf?sig=" in files["pdf"] and ".xml?sig=" in files["xml"]
    assert "xml_content" not in files
    only = await call_ok(mcp, "get_invoice_files", {"uuid": uuid, "file_type": "xml"})
    assert "pdf" not in only and only["xml"] == files["xml"]


async def test_get_invoice_files_with_content(mcp, sandbox):
    uuid = seeded(sandbox, "PUE")["uuid"]
    result = await mcp.call_tool("get_invoice_files", {"uuid": uuid, "include_content": True})
    assert not result.is_error
    data = result.structured_content
    root = ET.fromstring(data["xml_content"])
    tfd = root.find(".//{http://www.sat.gob.mx/TimbreFiscalDigital}TimbreFiscalDigital")
    assert tfd.get("UUID") == uuid
    assert data["pdf_bytes"] > 500 and "blob" not in str(data)
    text, embedded = result.content
    assert text.type == "text" and embedded.type == "resource"
    assert embedded.resource.mime_type == "application/pdf" and embedded.resource.uri.startswith("http")
    pdf = base64.b64decode(embedded.resource.blob)
    assert pdf.startswith(b"%PDF") and len(pdf) == data["pdf_bytes"]


async def test_get_invoice_files_cap(sandbox):
    uuid = seeded(sandbox, "PUE")["uuid"]
    async with Client(build_server(make_settings(sandbox, max_file_bytes=1000))) as mcp:
        result = await mcp.call_tool("get_invoice_files", {"uuid": uuid, "include_content": True})
    data = result.structured_content
    assert len(data["xml_content"]) <= 1000 and "XML cut" in data["note"] and "PDF is over" in data["note"]
    assert len(result.content) == 1 and "pdf_bytes" not in data


async def test_get_invoice_files_errors(mcp, sandbox):
    text = await call_err(mcp, "get_invoice_files", {"uuid": MISSING})
    assert "404" in text
    before = requests_count(sandbox)
    await call_err(mcp, "get_invoice_files", {"uuid": seeded(sandbox, "PUE")["uuid"], "file_type": "doc"})
    await call_err(mcp, "get_invoice_files", {"uuid": "x"})
    assert requests_count(sandbox) == before


# -- cancel -----------------------------------------------------------------------------------------


@both_eras
async def test_cancel_invoice_two_steps(mcp, sandbox):
    inv = seeded(sandbox, "PUE")
    first = await call_ok(mcp, "cancel_invoice", {"uuid": inv["uuid"], "motive": "02"})
    assert first["status"] == "confirmation_required"
    preview = first["preview"]
    assert f"A-{inv['folio_number']}" in preview and inv["uuid"] in preview and "ACME" not in preview
    assert "JUAN PEREZ GARCIA" in preview and "2,320.00 MXN" in preview and "no replacement" in preview
    assert sandbox.state.store.get(TEAM, "invoices", inv["uuid"])["status"] == "valid"
    assert not sandbox.state.api_requests("DELETE")
    done = await call_ok(
        mcp,
        "cancel_invoice",
        {"uuid": inv["uuid"], "motive": "02", "confirmation_token": first["confirmation_token"]},
    )
    assert done["status"] == "done" and done["result"]["status"] == "cancellation_pending_acceptance"
    assert done["result"]["cancellation_status"] == "pending_acceptance"  # 2,320 > 1,000 to an RFC
    stored = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])
    assert stored["status"] == "cancelled" and stored["motive"] == "02"
    assert sandbox.state.api_requests("DELETE")[-1]["body"] == {"motive": "02"}


@both_eras
async def test_cancel_with_substitution(mcp, sandbox):
    old = seeded(sandbox, "PUE")
    new = await call_ok(
        mcp,
        "create_income_invoice",
        {**INVOICE, "related_documents": [{"relationship": "04", "documents": [old["uuid"]]}]},
    )
    args = {"uuid": old["uuid"], "motive": "01", "substitution_uuid": new["uuid"]}
    first = await call_ok(mcp, "cancel_invoice", args)
    assert f"Replaced by UUID {new['uuid']}" in first["preview"]
    done = await call_ok(mcp, "cancel_invoice", {**args, "confirmation_token": first["confirmation_token"]})
    assert done["result"]["status"] == "cancellation_pending_acceptance"  # over 1,000: receiver decides
    assert sandbox.state.store.get(TEAM, "invoices", old["uuid"])["substitution_uuid"] == new["uuid"]


async def test_cancel_motive_01_needs_substitution_uuid(mcp, sandbox, gigstack):
    inv = seeded(sandbox, "PUE")
    # The guard refuses before asking anyone (see test_cancel_guard_motive_01_needs_substitution);
    # gigstack itself (the sandbox) refuses it too, for callers without our guards.
    with pytest.raises(BadRequestError) as exc:
        await gigstack.delete(f"/invoices/{inv['uuid']}", json={"motive": "01"})
    assert "substitution_uuid" in str(exc.value)
    assert sandbox.state.store.get(TEAM, "invoices", inv["uuid"])["status"] == "valid"


@both_eras
async def test_cancel_refused_with_payment_complements(mcp, sandbox):
    inv = seeded(sandbox, "PPD")
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    add_payment_complement(ctx, inv, 1000, "03")
    args = {"uuid": inv["uuid"], "motive": "03"}
    first = await call_ok(mcp, "cancel_invoice", args)
    assert "1 payment complement(s)" in first["preview"]
    text = await call_err(mcp, "cancel_invoice", {**args, "confirmation_token": first["confirmation_token"]})
    assert "409" in text and "Invoice has dependent payment complements" in text
    assert sandbox.state.store.get(TEAM, "invoices", inv["uuid"])["status"] == "valid"


@both_eras
async def test_cancel_errors(mcp, sandbox):
    text = await call_err(mcp, "cancel_invoice", {"uuid": MISSING, "motive": "02"})
    assert "404" in text
    before = requests_count(sandbox)
    inv = seeded(sandbox, "PUE")
    await call_err(mcp, "cancel_invoice", {"uuid": inv["uuid"], "motive": "05"})
    await call_err(mcp, "cancel_invoice", {"uuid": inv["uuid"], "motive": "01", "substitution_uuid": "new"})
    await call_err(mcp, "cancel_invoice", {"uuid": inv["uuid"]})
    assert requests_count(sandbox) == before
    first = await call_ok(mcp, "cancel_invoice", {"uuid": inv["uuid"], "motive": "02"})
    text = await call_err(
        mcp,
        "cancel_invoice",
        {"uuid": inv["uuid"], "motive": "03", "confirmation_token": first["confirmation_token"]},
    )
    assert "Nothing was done" in text
    assert not sandbox.state.api_requests("DELETE")
