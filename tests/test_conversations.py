"""Scripted conversations, one per prompt: get the prompt over MCP, then play the tool calls an assistant
following it would make (through a real MCP session, both protocol eras) and assert the END STATE in the
sandbox. Every tool the assistant calls must be named in the prompt it was given; what happened before
the conversation (the month's sales, a seeded invoice) is set up with plain calls."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from mcp import Client, types

from gigstack_mcp import clock
from gigstack_mcp.models.invoices import MEXICO
from gigstack_mcp.sandbox.examples import item
from gigstack_mcp.server import build_server

from .conftest import both_eras, call_err, call_ok, make_settings, one_era

pytestmark = [pytest.mark.anyio, one_era]
TEAM = "team_sandbox"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class Assistant:
    """The assistant's side of a conversation: the prompt it follows and the tools it calls."""

    def __init__(self, mcp: Client, script: str) -> None:
        self.mcp, self.script, self.called = mcp, script, []

    @classmethod
    async def following(cls, mcp: Client, prompt: str, **arguments: str) -> Assistant:
        result = await mcp.get_prompt(prompt, {"language": "en", **arguments})
        script = result.messages[0].content.text
        assert "English" in script and all(v in script for v in arguments.values())
        return cls(mcp, script)

    def _named(self, tool: str) -> None:
        assert re.search(rf"\b{tool}\b", self.script), f"the prompt never names {tool}"
        self.called.append(tool)

    async def ok(self, tool: str, args: dict | None = None) -> dict:
        self._named(tool)
        return await call_ok(self.mcp, tool, args)

    async def refused(self, tool: str, args: dict | None = None) -> str:
        self._named(tool)
        return await call_err(self.mcp, tool, args)


def stored(sandbox, coll: str, id: str) -> dict:
    return sandbox.state.store.get(TEAM, coll, id)


def seeded_invoice(sandbox, method: str) -> dict:
    return next(iter(sandbox.state.store.find(TEAM, "invoices", lambda d: d.get("payment_method") == method)))


def writes(sandbox) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in sandbox.state.api_requests() if r["method"] in WRITES]


# -- issue_invoice ----------------------------------------------------------------------------------


async def test_issue_invoice(mcp, sandbox):
    # User: "Factúrale a Juan Pérez 3 horas de consultoría."
    a = await Assistant.following(mcp, "issue_invoice", client="Juan Pérez", concept="consultoría")
    found = await a.ok("list_clients", {"query": "Juan Pérez"})
    [client] = found["data"]
    check = await a.ok("validate_client_fiscal_info", {"id": client["id"]})
    assert check["is_valid"] and check["issues"] == []  # nothing to fix: go on
    services = await a.ok("list_services", {})
    service = next(s for s in services["data"] if "Consultoría" in s["description"])
    usos = await a.ok("lookup_catalog", {"regimen": client["tax_system"]})
    assert "G03" in {u["code"] for u in usos["data"]}  # gastos en general is allowed for régimen 612
    # Assistant: "¿Ya te pagó?" User: "Sí, por transferencia." -> PUE, forma 03.
    invoice = {
        "client": {"id": client["id"]},
        "items": [{"id": service["id"], "quantity": 3}],
        "use": "G03",
        "payment_method": "PUE",
        "payment_form": "03",
    }
    # The summary, computed without stamping: the same tool with preview true.
    before = sandbox.state.store.count(TEAM, "invoices")
    preview = await a.ok("create_income_invoice", invoice | {"preview": True})
    assert preview["total"] == 3480
    assert sandbox.state.store.count(TEAM, "invoices") == before
    invoice |= {"preview_token": preview["preview_token"]}  # the create proves it is what the user saw
    # Assistant: "Juan Pérez García, 3 x Consultoría, 3,000 + IVA 480 = 3,480 MXN, G03, PUE, 03. ¿Timbro?"
    # User: "Sí."
    issued = await a.ok("create_income_invoice", invoice)
    assert (issued["subtotal"], issued["taxes"], issued["total"]) == (3000, 480, 3480)
    files = await a.ok("get_invoice_files", {"uuid": issued["uuid"]})
    # Assistant: "Listo: A-3, UUID …, aquí está el PDF: <link>."
    doc = stored(sandbox, "invoices", issued["uuid"])
    assert doc["status"] == "valid" and doc["invoice_type"] == "I"
    assert doc["client"]["id"] == "client_juan_perez"
    assert (doc["use"], doc["payment_method"], doc["payment_form"]) == ("G03", "PUE", "03")
    assert (doc["subtotal"], doc["total"]) == (3000, 3480)
    assert [(i["product_key"], i["quantity"]) for i in doc["items"]] == [("80141503", 3)]
    async with httpx.AsyncClient() as web:
        pdf = await web.get(files["pdf"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"].startswith("application/pdf")


async def test_issue_invoice_for_a_concept_with_no_service(mcp, sandbox):
    """No service for it: the SAT product and unit keys come from the catalogs, not from a guess."""
    # User: "Factúrale a Acme el diseño de su logotipo, 8,000 más IVA; ya pagó con transferencia."
    a = await Assistant.following(mcp, "issue_invoice", client="Acme", concept="diseño de logotipo")
    [acme] = (await a.ok("list_clients", {"query": "Acme"}))["data"]
    services = await a.ok("list_services", {})
    assert not [s for s in services["data"] if "logo" in s["description"].lower()]
    products = await a.ok(
        "lookup_catalog", {"query": "diseño de logotipo", "catalog": "clave-prod-serv", "limit": 3}
    )
    product_key = products["data"][0]["code"]
    assert product_key in {"82141500", "82141502", "82141504"}  # servicios de diseño (c_ClaveProdServ)
    units = await a.ok("lookup_catalog", {"query": "servicio", "catalog": "clave-unidad", "limit": 1})
    unit_key = units["data"][0]["code"]
    assert unit_key == "E48"
    # Assistant: "¿Lo facturo como 82141500 Servicios de diseño artístico, unidad E48 (servicio)?" "Sí."
    invoice = {
        "client": {"id": acme["id"]},
        "items": [
            {
                "description": "Diseño de logotipo",
                "quantity": 1,
                "unit_price": 8000,
                "product_key": product_key,
                "unit_key": unit_key,
                "taxes": [{"type": "IVA", "rate": 0.16}],
            }
        ],
        "use": "G03",
        "payment_method": "PUE",
        "payment_form": "03",
    }
    preview = await a.ok("create_income_invoice", invoice | {"preview": True})
    assert preview["total"] == 9280
    issued = await a.ok("create_income_invoice", invoice | {"preview_token": preview["preview_token"]})
    doc = stored(sandbox, "invoices", issued["uuid"])
    assert [(i["product_key"], i["unit_key"]) for i in doc["items"]] == [(product_key, "E48")]
    assert (doc["subtotal"], doc["total"], doc["status"]) == (8000, 9280, "valid")


# -- cancel_invoice ---------------------------------------------------------------------------------


@both_eras
async def test_cancel_invoice_replaced_by_a_new_one(mcp, sandbox):
    old = seeded_invoice(sandbox, "PUE")
    folio = f"{old['series']}-{old['folio_number']}"
    # User: "Cancela la factura A-1, el concepto estaba mal; ya te digo cuál es el bueno."
    a = await Assistant.following(mcp, "cancel_invoice", invoice=folio)
    found = await a.ok("list_income_invoices", {"series": old["series"], "folio_number": old["folio_number"]})
    [row] = found["data"]
    assert row["uuid"] == old["uuid"] and row["status"] == "valid"
    # Assistant: "A-1 a JUAN PEREZ GARCIA por 2,320.00. ¿Fue un error que se corrige con una factura nueva
    # (01), un error sin reemplazo (02), una venta que no ocurrió (03)…?" User: "01, emite la correcta."
    replacement = await a.ok(
        "create_income_invoice",
        {
            "client": {"id": row["client"]["id"]},
            "items": [
                {
                    "description": "Consultoría en sistemas (corrección)",
                    "quantity": 2,
                    "unit_price": 1000,
                    "product_key": "80141503",
                    "unit_key": "E48",
                    "taxes": [{"type": "IVA", "rate": 0.16}],
                }
            ],
            "use": "G03",
            "payment_method": "PUE",
            "payment_form": "03",
            "related_documents": [{"relationship": "04", "documents": [row["uuid"]]}],
        },
    )
    args = {"uuid": row["uuid"], "motive": "01", "substitution_uuid": replacement["uuid"]}
    first = await a.ok("cancel_invoice", args)
    assert first["status"] == "confirmation_required" and folio in first["preview"]
    assert replacement["uuid"] in first["preview"]
    # Nothing is cancelled while the user reads the preview.
    assert stored(sandbox, "invoices", old["uuid"])["status"] == "valid"
    assert not sandbox.state.api_requests("DELETE")
    # User: "Sí, cancélala."
    done = await a.ok("cancel_invoice", args | {"confirmation_token": first["confirmation_token"]})
    assert done["status"] == "done" and done["result"]["status"] == "cancellation_pending_acceptance"
    # Assistant: "Solicitada; al ser más de $1,000 el receptor tiene 3 días hábiles para aceptarla."
    assert done["result"]["cancellation_status"] == "pending_acceptance"
    cancelled = stored(sandbox, "invoices", old["uuid"])
    assert cancelled["status"] == "cancelled" and cancelled["motive"] == "01"
    assert cancelled["substitution_uuid"] == replacement["uuid"]
    new = stored(sandbox, "invoices", replacement["uuid"])
    assert new["status"] == "valid"
    assert new["related_documents"] == [{"relationship": "04", "documents": [old["uuid"]]}]
    assert len(sandbox.state.api_requests("DELETE")) == 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_cancel_invoice_confirmed_by_elicitation(sandbox, mode):
    asked: list[str] = []

    async def human_says_yes(ctx, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    old = seeded_invoice(sandbox, "PUE")
    server = build_server(make_settings(sandbox))
    async with Client(server, mode=mode, elicitation_callback=human_says_yes) as mcp:
        # User: "Cancela la A-1, se emitió por error y no va a reemplazarse."
        a = await Assistant.following(mcp, "cancel_invoice", invoice=old["uuid"])
        done = await a.ok("cancel_invoice", {"uuid": old["uuid"], "motive": "02"})
    # The client asked the human itself (the preview), so one call did it.
    assert done["status"] == "done" and len(asked) == 1 and old["uuid"] in asked[0]
    assert stored(sandbox, "invoices", old["uuid"])["status"] == "cancelled"


# -- monthly_global_invoice -------------------------------------------------------------------------


async def test_monthly_global_invoice(mcp, sandbox):
    today = clock.now().astimezone(MEXICO)
    # Before the conversation: this month's counter sales, as receipts nobody self-invoiced.
    for price, form in ((2000, "01"), (250, "04"), (50, "01")):
        sale = {"description": "Venta mostrador", "quantity": 1, "unit_price": price}
        item = sale | {"product_key": "01010101", "unit_key": "ACT", "taxes": [{"type": "IVA", "rate": 0.16}]}
        await call_ok(mcp, "create_receipt", {"items": [item], "payment_form": form})
    # User: "Haz la factura global de este mes."
    month, year = f"{today.month:02d}", str(today.year)
    a = await Assistant.following(mcp, "monthly_global_invoice", month=month, year=year)
    open_receipts = []
    for status in ("pending", "expired"):
        page = await a.ok("list_receipts", {"status": status, "limit": 100})
        assert not page["has_more"]
        open_receipts += page["data"]
    tickets = [
        r
        for r in open_receipts
        if datetime.fromtimestamp(r["created_at"], MEXICO).strftime("%m/%Y") == f"{month}/{year}"
    ]
    assert len(tickets) == 5  # the three above and the two the sandbox starts with
    # Assistant: "5 tickets, 4,988.00 MXN con IVA, a PUBLICO EN GENERAL. ¿Los facturo?" User: "Sí."
    issued = [
        await a.ok("stamp_receipt", {"id": r["id"], "stamp_to": "general_public_national"}) for r in tickets
    ]
    # Every receipt ends invoiced (nothing left for self-invoicing or gigstack's own global invoice)...
    for receipt, invoice in zip(tickets, issued, strict=True):
        stored_receipt = stored(sandbox, "receipts", receipt["id"])
        assert stored_receipt["status"] == "invoiced"
        assert stored_receipt["invoice"]["uuid"] == invoice["uuid"]
        doc = stored(sandbox, "invoices", invoice["uuid"])
        # ... in a global CFDI to público en general whose line is the ticket (Guía del CFDI global).
        assert doc["global"] == {"periodicity": "04", "months": month, "year": today.year}
        assert (doc["client"]["tax_id"], doc["client"]["tax_system"], doc["use"]) == (
            "XAXX010101000",
            "616",
            "S01",
        )
        assert doc["client"]["zip"] == "64000"  # the issuer's expedition zip
        assert doc["payment_method"] == "PUE" and doc["payment_form"] == receipt["payment_form"]
        assert {
            (i["sku"], i["product_key"], i["unit_key"], i["quantity"], i["description"]) for i in doc["items"]
        } == {(receipt["id"], "01010101", "ACT", 1, "Venta")}
        assert doc["total"] == receipt["total"]
    assert round(sum(stored(sandbox, "invoices", i["uuid"])["total"] for i in issued), 2) == 4988.0
    still_open = [
        r
        for status in ("pending", "expired")
        for r in (await a.ok("list_receipts", {"status": status}))["data"]
    ]
    assert not still_open
    # The XML names each ticket on its concepto (NoIdentificacion).
    files = await call_ok(mcp, "get_invoice_files", {"uuid": issued[0]["uuid"], "include_content": True})
    assert f'NoIdentificacion="{tickets[0]["id"]}"' in files["xml_content"]
    assert 'ClaveProdServ="01010101"' in files["xml_content"] and "InformacionGlobal" in files["xml_content"]


async def test_global_invoice_cannot_take_a_receipt_twice(mcp, sandbox):
    """A create_income_invoice global naming an open receipt on a line is refused: gigstack would still
    invoice that receipt (self-invoice or its end-of-month global invoice)."""
    today = clock.now().astimezone(MEXICO)
    a = await Assistant.following(
        mcp, "monthly_global_invoice", month=f"{today.month:02d}", year=str(today.year)
    )
    [receipt] = [
        r
        for r in (await a.ok("list_receipts", {"status": "pending"}))["data"]
        if r["id"] == "receipt_demo_mostrador"
    ]
    before = sandbox.state.store.count(TEAM, "invoices")
    line = {
        "description": "Venta",
        "quantity": 1,
        "unit_price": receipt["subtotal"],
        "product_key": "01010101",
    }
    text = await a.refused(
        "create_income_invoice",
        {
            "client": {"id": "client_publico_general"},
            "items": [
                line | {"unit_key": "ACT", "sku": receipt["id"], "taxes": [{"type": "IVA", "rate": 0.16}]}
            ],
            "use": "S01",
            "payment_method": "PUE",
            "payment_form": "01",
            "global": {"periodicity": "04", "months": f"{today.month:02d}", "year": today.year},
        },
    )
    assert "stamp_receipt" in text and receipt["id"] in text
    assert sandbox.state.store.count(TEAM, "invoices") == before
    assert stored(sandbox, "receipts", receipt["id"])["status"] == "pending"


# -- a foreign customer, invoiced in dollars (issue_invoice) ---------------------------------------------


async def test_foreign_client_invoiced_in_usd(mcp, sandbox):
    # User: "Factúrale a Globex Corp., de Texas, 10 horas de consultoría en dólares; su EIN es 98-7654321."
    a = await Assistant.following(mcp, "issue_invoice", client="Globex Corp.", concept="consultoría")
    assert (await a.ok("list_clients", {"query": "Globex"}))["data"] == []
    # A first try with the EIN as RFC: refused, and the error says what a customer abroad takes.
    fields = {
        "legal_name": "GLOBEX CORPORATION",
        "email": "ap@globex.example",
        "tax_system": "616",
        "use": "S01",
    }
    text = await a.refused("create_client", fields | {"tax_id": "98-7654321", "address": {"zip": "64000"}})
    for hint in ("XEXX010101000", "616", "S01", "country", "foreign_tax_id"):
        assert hint in text, text
    [team] = (await a.ok("list_teams", {}))["data"]
    [usa] = (await a.ok("lookup_catalog", {"catalog": "pais", "code": "USA"}))["data"]
    # The EIN as typed does not follow SAT's pattern for USA (nine digits): refused, nothing sent.
    client = fields | {
        "tax_id": "XEXX010101000",
        "address": {"zip": team["address"]["zip"], "country": usa["code"]},
    }
    text = await a.refused("create_client", client | {"foreign_tax_id": "98-7654321"})
    assert "XEXX-RESIDENCIA" in text and "[0-9]{9}" in text
    created = await a.ok("create_client", client | {"foreign_tax_id": "987654321"})
    check = await a.ok("validate_client_fiscal_info", {"id": created["id"]})
    assert check["is_valid"], check
    invoice = {
        "client": {"id": created["id"]},
        "items": [
            {
                "description": "Consultoría en sistemas",
                "quantity": 10,
                "unit_price": 100,
                "product_key": "81111500",
                "unit_key": "HUR",
                "taxes": [{"type": "IVA", "rate": 0}],
            }
        ],
        "use": "S01",
        "payment_method": "PUE",
        "payment_form": "03",
        "exchange_rate": 17.25,
    }
    # "Dólares" written the way people write it is not a c_Moneda code.
    text = await a.refused("create_income_invoice", invoice | {"currency": "DLS"})
    assert "c_Moneda" in text and "'DLS'" in text
    issued = await a.ok("create_income_invoice", invoice | {"currency": "USD"})
    doc = stored(sandbox, "invoices", issued["uuid"])
    assert (doc["currency"], doc["exchange_rate"], doc["total"]) == ("USD", 17.25, 1000.0)
    assert doc["client"]["id"] == created["id"]
    assert (doc["client"]["country"], doc["client"]["foreign_tax_id"]) == ("USA", "987654321")
    files = await a.ok("get_invoice_files", {"uuid": issued["uuid"], "include_content": True})
    xml = files["xml_content"]
    assert (
        'Rfc="XEXX010101000"' in xml and 'ResidenciaFiscal="USA"' in xml and 'NumRegIdTrib="987654321"' in xml
    )
    assert 'DomicilioFiscalReceptor="64000"' in xml and 'LugarExpedicion="64000"' in xml
    assert 'Moneda="USD"' in xml and 'UsoCFDI="S01"' in xml
    # Fecha is the issuer's local time (Mexico City), not UTC.
    local = datetime.fromtimestamp(doc["created_at"], MEXICO).strftime("%Y-%m-%dT%H:%M:%S")
    assert f'Fecha="{local}"' in xml


# -- credit_note ------------------------------------------------------------------------------------


async def test_credit_note(mcp, sandbox):
    # Before the conversation: an invoice to Acme for two months of hosting (1,160.00).
    income = await call_ok(
        mcp,
        "create_income_invoice",
        {
            "client": {"id": "client_acme"},
            "items": [{"id": "service_hosting", "quantity": 2}],
            "use": "G03",
            "payment_method": "PUE",
            "payment_form": "03",
        },
    )
    # User: "A Acme le hicimos un descuento de 200 más IVA sobre su factura de hosting."
    a = await Assistant.following(mcp, "credit_note", invoice=income["uuid"])
    got = await a.ok("get_income_invoice", {"uuid": income["uuid"]})
    assert got["total"] == 1160 and got["client"]["id"] == "client_acme"
    # Assistant: "Nota de crédito parcial por 200 + IVA = 232.00, G02, forma 03, relacionada (01). ¿La emito?"
    credit = await a.ok(
        "create_egress_invoice",
        {
            "client": {"id": got["client"]["id"]},
            "items": [
                {
                    "description": "Descuento sobre hosting",
                    "quantity": 1,
                    "unit_price": 200,
                    "product_key": "84111506",
                    "unit_key": "ACT",
                    "taxes": [{"type": "IVA", "rate": 0.16}],
                }
            ],
            "use": "G02",
            "payment_method": "PUE",
            "payment_form": "03",
            "related_documents": [{"relationship": "01", "documents": [income["uuid"]]}],
        },
    )
    # Assistant: "Emitida E-1 por 232.00; PDF: <link>."
    assert credit["files"]["pdf"]
    doc = stored(sandbox, "invoices", credit["uuid"])
    assert doc["invoice_type"] == "E" and doc["use"] == "G02" and doc["total"] == 232.0
    assert doc["client"]["id"] == "client_acme"
    assert doc["related_documents"] == [{"relationship": "01", "documents": [income["uuid"]]}]
    assert stored(sandbox, "invoices", income["uuid"])["status"] == "valid"  # credited, not cancelled


# -- collect_payment --------------------------------------------------------------------------------


async def test_collect_payment(mcp, sandbox):
    # User: "Cóbrale a Acme: una liga por la consultoría de abril, un depósito que ya llegó, y otro pago
    # de hoy que facturamos a crédito (PPD)."
    a = await Assistant.following(mcp, "collect_payment", client="Acme")
    [acme] = (await a.ok("list_clients", {"query": "Acme"}))["data"]
    consultoria = {"id": "service_consultoria", "quantity": 1}
    # Not paid yet: a payment link, invoiced automatically once paid.
    link = await a.ok(
        "request_payment",
        {
            "client": {"id": acme["id"]},
            "items": [consultoria],
            "allowed_payment_methods": ["bank"],
            "automation_type": "pue_invoice",
        },
    )
    assert link["status"] == "requires_payment_method" and link["short_url"]
    # Already received by transfer: registered, and its PUE invoice stamped.
    invoices_before = sandbox.state.store.count(TEAM, "invoices")
    received = await a.ok(
        "register_payment",
        {
            "client": {"id": acme["id"]},
            "items": [consultoria],
            "payment_form": "03",
            "automation_type": "pue_invoice",
        },
    )
    assert received["status"] == "succeeded" and len(received["invoices"]) == 1
    assert sandbox.state.store.count(TEAM, "invoices") == invoices_before + 1
    pue = stored(sandbox, "invoices", received["invoices"][0])
    assert (pue["payment_method"], pue["payment_form"], pue["total"]) == ("PUE", "03", 1160.0)
    # Paid now but invoiced as PPD (gigstack's ppd_invoice_and_complement): its PPD invoice and the
    # payment complement (REP) for this payment, which the complements tool then finds.
    abono = await a.ok(
        "register_payment",
        {
            "client": {"id": acme["id"]},
            "items": [consultoria],
            "payment_form": "03",
            "automation_type": "ppd_invoice_and_complement",
        },
    )
    [ppd_uuid], [complement_uuid] = abono["invoices"], abono["complements"]
    complement = stored(sandbox, "invoices", complement_uuid)
    assert complement["invoice_type"] == "P" and complement["invoice_id"] == ppd_uuid
    assert complement["payment"]["amount"] == 1160.0
    found = await a.ok("list_payment_complements", {"invoice_id": ppd_uuid})
    assert [c["uuid"] for c in found["data"]] == [complement_uuid]
    assert stored(sandbox, "invoices", ppd_uuid)["last_balance"] == 0.0
    # Later the user says: "Ya pagaron la liga, con tarjeta de débito."
    paid = await a.ok("mark_payment_paid", {"id": link["id"], "payment_form": "28"})
    assert paid["status"] == "succeeded" and len(paid["invoices"]) == 1
    # Assistant: "Liga cobrada y facturada, depósito facturado, pago PPD con su factura y su complemento."
    payment = stored(sandbox, "payments", link["id"])
    assert payment["status"] == "succeeded" and payment["payment_form"] == "28"
    assert stored(sandbox, "invoices", paid["invoices"][0])["payment_form"] == "28"


# -- client_fiscal_check ----------------------------------------------------------------------------


async def test_client_fiscal_check(mcp, sandbox):
    # Before the conversation: a client saved without régimen nor código postal.
    created = await call_ok(
        mcp,
        "create_client",
        {
            "name": "Lucía Gómez",
            "legal_name": "LUCIA GOMEZ RUIZ",
            "tax_id": "GORL850315K29",
            "email": "lucia@example.com",
        },
    )
    # User: "¿Puedo facturarle a Lucía Gómez?"
    a = await Assistant.following(mcp, "client_fiscal_check", client="Lucía Gómez")
    [client] = (await a.ok("list_clients", {"query": "lucia@example.com"}))["data"]
    assert client["id"] == created["id"]
    await a.ok("get_client", {"id": client["id"]})
    check = await a.ok("validate_client_fiscal_info", {"id": client["id"]})
    assert check["is_valid"] is False
    assert any("tax_system" in i for i in check["issues"]) and any("zip" in i for i in check["issues"])
    # Assistant: "Faltan el régimen fiscal y el CP de su Constancia." User: "612, CP 06700."
    # 13-character RFC: persona física; 612 is hers, and it allows G03.
    usos = await a.ok("lookup_catalog", {"regimen": "612", "persona": "fisica"})
    assert "G03" in {u["code"] for u in usos["data"]}
    # Assistant: "Actualizo régimen 612 y CP 06700, ¿sí?" User: "Sí."
    await a.ok("update_client", {"id": client["id"], "tax_system": "612", "address": {"zip": "06700"}})
    again = await a.ok("validate_client_fiscal_info", {"id": client["id"]})
    assert again["is_valid"] is True and again["issues"] == []
    doc = stored(sandbox, "clients", client["id"])
    assert doc["tax_system"] == "612" and doc["address"]["zip"] == "06700" and doc["is_valid"] is True
    assert [m for m, _ in writes(sandbox)].count("PUT") == 1  # one update, confirmed by the user


# -- support_triage ---------------------------------------------------------------------------------


async def test_support_triage_changes_nothing(mcp, sandbox):
    before = writes(sandbox)
    # Agent: "¿Qué pasa con la cuenta de juan@example.com? Dice que no le llegó su factura."
    a = await Assistant.following(mcp, "support_triage", client="juan@example.com")
    [client] = (await a.ok("list_clients", {"query": "juan@example.com"}))["data"]
    got = await a.ok("get_client", {"id": client["id"]})
    assert got["is_valid"] is True
    invoices = await a.ok("list_income_invoices", {"client_id": client["id"]})
    payments = await a.ok("list_payments", {"client_id": client["id"]})
    receipts = await a.ok("list_receipts", {"client_id": client["id"]})
    assert invoices["data"] and payments["data"] and receipts["data"]
    assert {i["client"]["id"] for i in invoices["data"]} == {client["id"]}
    assert {p["client"]["id"] for p in payments["data"]} == {client["id"]}
    files = [await a.ok("get_invoice_files", {"uuid": i["uuid"]}) for i in invoices["data"]]
    assert all(f["pdf"] for f in files)
    # Agent: "Mándame la liga del portal para pasársela." (the one write the flow needs: a portal token)
    portal = await a.ok("create_client_portal_token", {"id": client["id"]})
    assert client["id"] in portal["url"]
    # Assistant: "A-1 2,320.00 PUE vigente (PDF …), pago por transferencia cobrado, un recibo pendiente;
    # portal: …. Sugerencia: reenviar el PDF."
    assert writes(sandbox)[len(before) :] == [("POST", "/clients/customerportal")]
    assert [t for t in a.called if not t.startswith(("list_", "get_"))] == ["create_client_portal_token"]


# -- issue 14: credit notes, partial payments and the statement ---------------------------------------

XENON = {  # SAT's test RFC (CSD de pruebas): a client with nothing on record yet
    "name": "Xenon",
    "legal_name": "XENON INDUSTRIAL ARTICLES",
    "tax_id": "XIA190128J61",
    "tax_system": "601",
    "email": "pagos@xenon.example",
    "address": {"zip": "76000"},
}


async def _ppd_invoice(mcp: Client, client_id: str) -> dict:
    """Before the conversation: two months of hosting invoiced on credit (PPD), 1,160.00."""
    return await call_ok(
        mcp,
        "create_income_invoice",
        {
            "client": {"id": client_id},
            "items": [{"id": "service_hosting", "quantity": 2}],
            "use": "G03",
            "payment_method": "PPD",
            "payment_form": "99",
        },
    )


async def test_credit_note_for_a_ppd_invoice(mcp, sandbox):
    client = await call_ok(mcp, "create_client", XENON)
    income = await _ppd_invoice(mcp, client["id"])
    assert income["total"] == 1160
    # User: "A Xenon le condonamos 200 más IVA de su factura de hosting, que aún no paga."
    a = await Assistant.following(mcp, "credit_note", invoice=income["uuid"])
    got = await a.ok("get_income_invoice", {"uuid": income["uuid"]})
    assert (got["payment_method"], got["last_balance"]) == ("PPD", 1160)
    note = {
        "client": {"id": client["id"]},
        "items": [
            {
                "description": "Bonificación sobre hosting",
                "quantity": 1,
                "unit_price": 200,
                "product_key": "84111506",
                "unit_key": "ACT",
                "taxes": [{"type": "IVA", "rate": 0.16}],
            }
        ],
        "use": "G02",
        "payment_method": "PUE",
        "related_documents": [{"relationship": "01", "documents": [income["uuid"]]}],
    }
    # Copying the original's forma (99, it is PPD) is refused with the egress forms, before anything is sent.
    refused = await a.refused("create_egress_invoice", note | {"payment_form": "99"})
    assert "EGRESO-FORMA" in refused and "15 Condonación" in refused and "use PPD" not in refused
    assert not writes(sandbox)[2:]  # only the setup's client and invoice were written
    # Unpaid invoice, nothing goes back: 15 Condonación. The preview tells the exact next call.
    note["payment_form"] = "15"
    preview = await a.ok("create_egress_invoice", note | {"preview": True})
    assert preview["total"] == 232 and preview["payment_method"].startswith("PUE")
    credit = await a.ok("create_egress_invoice", note | {"preview_token": preview["preview_token"]})
    assert credit["related_documents"] == [{"relationship": "01", "documents": [income["uuid"]]}]
    doc = stored(sandbox, "invoices", credit["uuid"])
    assert (doc["invoice_type"], doc["payment_method"], doc["payment_form"]) == ("E", "PUE", "15")
    assert doc["related_documents"] == [{"relationship": "01", "documents": [income["uuid"]]}]
    # Assistant: "Nota E-… por 232.00; Xenon ahora debe 928.00."
    statement = await a.ok("get_client_statement", {"client_id": client["id"]})
    [row] = statement["open_invoices"]
    assert (row["uuid"], row["credited"], row["balance"]) == (income["uuid"], 232, 928)
    assert statement["owed"] == {"MXN": 928} and statement["credited"] == {"MXN": 232}


async def test_payment_received_earlier_and_statement(mcp, sandbox):
    """A payment that arrived on Monday, recorded today, and what the client still owes. (No gigstack
    reference lets a registered payment name an earlier PPD invoice, so the PPD invoice keeps its
    balance: the statement shows both; issue 13 records the gap.)"""
    client = await call_ok(mcp, "create_client", XENON)
    income = await _ppd_invoice(mcp, client["id"])
    # User: "Xenon me depositó 580 el lunes por el soporte de este mes. ¿Cuánto me debe ya?"
    a = await Assistant.following(mcp, "collect_payment", client="Xenon")
    monday = clock.today_mx() - timedelta(days=3)
    paid = await a.ok(
        "register_payment",
        {
            "client": {"id": client["id"]},
            "items": [item(500, description="Soporte")],
            "payment_form": "03",
            "paid_on": monday.isoformat(),
        },
    )
    payment = stored(sandbox, "payments", paid["id"])
    assert payment["status"] == "succeeded"
    assert datetime.fromtimestamp(payment["succeeded_at"], MEXICO).date() == monday  # the day it arrived
    [pue] = payment["invoices"]
    assert stored(sandbox, "invoices", pue)["payment_method"] == "PUE"
    statement = await a.ok("get_client_statement", {"client_id": client["id"]})
    [row] = statement["open_invoices"]
    assert (
        row["uuid"] == income["uuid"]
        and row["balance"] == stored(sandbox, "invoices", income["uuid"])["total"]
    )
    assert statement["paid"] == {"MXN": 580.0} and statement["owed"] == {"MXN": row["balance"]}


async def test_partial_payment_on_an_existing_ppd_invoice(mcp, sandbox):
    """Half of a PPD invoice paid. gigstack's API documents no call that attaches a payment to an invoice
    already stamped PPD, so the prompt records the money without a second invoice for the same income
    (automation none) and the statement nets it; the user is told the complement is issued in gigstack."""
    client = await call_ok(mcp, "create_client", XENON)
    income = await _ppd_invoice(mcp, client["id"])
    invoices_before = sandbox.state.store.count(TEAM, "invoices")
    # User: "Xenon abonó 580 a su factura de hosting por transferencia. ¿Cuánto me debe?"
    a = await Assistant.following(mcp, "collect_payment", client="Xenon")
    assert "automation_type none" in a.script and "REP" in a.script
    before = await a.ok("get_client_statement", {"client_id": client["id"]})
    assert [r["uuid"] for r in before["open_invoices"]] == [income["uuid"]]
    paid = await a.ok(
        "register_payment",
        {
            "client": {"id": client["id"]},
            "items": [item(500, description="Abono a factura de hosting")],
            "payment_form": "03",
            "automation_type": "none",
        },
    )
    payment = stored(sandbox, "payments", paid["id"])
    assert (payment["status"], payment["invoices"], payment["total"]) == ("succeeded", [], 580.0)
    assert sandbox.state.store.count(TEAM, "invoices") == invoices_before  # no second CFDI for it
    statement = await a.ok("get_client_statement", {"client_id": client["id"]})
    [row] = statement["open_invoices"]
    assert (row["uuid"], row["balance"]) == (income["uuid"], 1160)  # gigstack's balance: no REP yet
    assert statement["unapplied"] == {"MXN": 580.0} and statement["open_balances"] == {"MXN": 1160.0}
    assert statement["owed"] == {"MXN": 580.0}
    text = (await mcp.call_tool("get_client_statement", {"client_id": client["id"]})).content[0].text
    assert "owes 580.00 MXN" in text and "not applied to any invoice" in text


async def test_discount_credit_note_on_a_paid_invoice(mcp, sandbox):
    client = await call_ok(mcp, "create_client", XENON)
    paid = await call_ok(
        mcp,
        "create_income_invoice",
        {
            "client": {"id": client["id"]},
            "items": [{"id": "service_hosting", "quantity": 2}],
            "use": "G03",
            "payment_method": "PUE",
            "payment_form": "03",
        },
    )
    # User: "Le dimos a Xenon 10% de descuento por pronto pago y le regresamos el dinero por transferencia."
    a = await Assistant.following(mcp, "credit_note", invoice=paid["uuid"])
    got = await a.ok("get_income_invoice", {"uuid": paid["uuid"]})
    discount = {
        "client": {"id": client["id"]},
        "items": [
            {
                "description": "Descuento por pronto pago",
                "quantity": 1,
                "unit_price": round(got["subtotal"] * 0.10, 2),
                "product_key": "84111506",
                "unit_key": "ACT",
                "taxes": [{"type": "IVA", "rate": 0.16}],
            }
        ],
        "use": "G02",
        "payment_method": "PUE",
        "payment_form": "03",  # the money went back by transfer, as the original was paid
        "related_documents": [{"relationship": "01", "documents": [paid["uuid"]]}],
    }
    preview = await a.ok("create_egress_invoice", discount | {"preview": True})
    assert preview["total"] == 116
    credit = await a.ok("create_egress_invoice", discount | {"preview_token": preview["preview_token"]})
    doc = stored(sandbox, "invoices", credit["uuid"])
    assert (doc["invoice_type"], doc["total"], doc["payment_form"]) == ("E", 116, "03")
    assert stored(sandbox, "invoices", paid["uuid"])["status"] == "valid"  # credited, not cancelled
    # A paid invoice has nothing open: the credit note is listed, applied to no balance.
    statement = await a.ok("get_client_statement", {"client_id": client["id"]})
    assert statement["open_invoices"] == [] and statement["owed"] == {}
    [listed] = statement["credit_notes"]
    assert (listed["uuid"], listed["credits"], listed["applied"]) == (credit["uuid"], [paid["uuid"]], 0)


# -- the README's Prompts section --------------------------------------------------------------------


async def test_readme_lists_every_prompt_with_its_arguments(mcp):
    readme = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    section = readme.split("\n## Prompts\n")[1].split("\n## ")[0]
    rows = {
        m[1]: set(re.findall(r"`(\w+)`", m[2]))
        for m in re.finditer(r"^\| `(\w+)` \| (.*) \|$", section, re.M)
    }
    prompts = (await mcp.list_prompts()).prompts
    assert rows == {p.name: {a.name for a in p.arguments} for p in prompts}
    for p in prompts:  # and one example conversation each
        assert f"- **{p.name}** — " in section, p.name
