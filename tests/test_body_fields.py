"""The request fields gigstack documents for invoice, payment and receipt bodies (issue 13), each through
the real server to the sandbox: the item's unit_name, an invoice line's third_party (ACuentaTerceros) and
search (a service by SKU), the inline client's Client fields, the invoice's complements, addenda,
invoice_pdf_notes and return_files_urls; unknown keys in the new objects are refused naming that
object's keys, and null is "not given" in each."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from gigstack_mcp.sandbox.examples import ACME, income_invoice, item

from .conftest import call_err, call_ok, call_refused, one_era

pytestmark = [pytest.mark.anyio, one_era]
TEAM = "team_sandbox"
CFDI = "{http://www.sat.gob.mx/cfd/4}"
THIRD = {"tax_id": "AIN980512QX9", "legal_name": "ACME INDUSTRIAL", "tax_system": "601", "zip": "44100"}
INLINE = {
    "name": "Lucía",
    "legal_name": "LUCIA GOMEZ RUIZ",
    "tax_id": "GORL850315K29",
    "tax_system": "612",
    "use": "G03",
    "email": "lucia@example.com",
    "bcc": ["conta@example.com"],
    "phone": "5512345678",
    "company": "Gómez Diseño",
    "address": {
        "country": "MEX",
        "street": "Insurgentes Sur",
        "exterior": "1000",
        "interior": "4B",
        "neighborhood": "Del Valle",
        "municipality": "Benito Juárez",
        "city": "Ciudad de México",
        "state": "CDMX",
        "zip": "06700",
    },
    "metadata": ["crm=77"],
    "search": {"on_key": "tax_id", "on_value": "GORL850315K29", "auto_create": True},
}


def _posted(sandbox, path: str) -> dict[str, Any]:
    return sandbox.state.api_requests("POST", path)[-1]["body"]


async def _xml(mcp, uuid: str) -> ET.Element:
    files = await call_ok(mcp, "get_invoice_files", {"uuid": uuid, "include_content": True})
    return ET.fromstring(files["xml_content"])


# -- items ----------------------------------------------------------------------------------------------


async def test_unit_name_and_third_party_reach_the_cfdi(mcp, sandbox):
    line = item(unit_name="Servicio", third_party=THIRD)
    inv = await call_ok(mcp, "create_income_invoice", income_invoice(line))
    assert _posted(sandbox, "^/invoices/income$")["items"][0]["third_party"] == THIRD
    concepto = (await _xml(mcp, inv["uuid"])).find(f".//{CFDI}Concepto")
    assert concepto.get("Unidad") == "Servicio"
    terceros = concepto.find(f"{CFDI}ACuentaTerceros")
    assert terceros.attrib == {
        "RfcACuentaTerceros": "AIN980512QX9",
        "NombreACuentaTerceros": "ACME INDUSTRIAL",
        "RegimenFiscalACuentaTerceros": "601",
        "DomicilioFiscalACuentaTerceros": "44100",
    }
    preview = await mcp.call_tool("create_income_invoice", income_invoice(line) | {"preview": True})
    assert preview.structured_content["items"][0]["third_party"] == THIRD
    assert 'a cuenta de terceros "ACME INDUSTRIAL" RFC AIN980512QX9' in preview.content[0].text


@pytest.mark.parametrize(
    "third, word",
    [
        (THIRD | {"tax_id": "NOT-AN-RFC"}, "items.0.third_party.tax_id"),
        (THIRD | {"tax_system": "699"}, "items.0.third_party.tax_system"),
        (THIRD | {"zip": "4410"}, "items.0.third_party.zip"),
        ({k: v for k, v in THIRD.items() if k != "legal_name"}, "items.0.third_party.legal_name"),
        (THIRD | {"rfc": "AIN980512QX9"}, "items.0.third_party takes: tax_id, legal_name, tax_system, zip"),
    ],
)
async def test_a_bad_third_party_is_refused_before_sending(mcp, sandbox, third, word):
    await call_refused(mcp, sandbox, "create_income_invoice", income_invoice(item(third_party=third)), word)


async def test_third_party_is_checked_by_the_sandbox_too(gigstack):
    """The sandbox refuses what gigstack's PAC would (a body sent without the tool's checks)."""
    from gigstack_mcp.client import BadRequestError

    body = income_invoice(item(third_party=THIRD | {"tax_system": "699"}))
    with pytest.raises(BadRequestError, match="third_party.tax_system"):
        await gigstack.post("/invoices/income", json=body)


async def test_item_search_finds_or_creates_a_service_by_sku(mcp, sandbox):
    found = {"search": {"on_key": "sku", "on_value": "CONS-01"}, "quantity": 2}
    inv = await call_ok(mcp, "create_income_invoice", income_invoice(found))
    stored = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])["items"][0]
    assert stored["id"] == "service_consultoria" and stored["unit_price"] == 1000 and inv["subtotal"] == 2000
    preview = await call_ok(mcp, "create_income_invoice", income_invoice(found) | {"preview": True})
    assert preview["subtotal"] == 2000 and preview["items"][0]["description"] == "Consultoría en sistemas"

    new = item(500, search={"on_key": "sku", "on_value": "NEW-9", "auto_create": True})
    await call_ok(mcp, "create_income_invoice", income_invoice(new))
    (service,) = sandbox.state.store.find(TEAM, "services", lambda d: d.get("sku") == "NEW-9")
    assert service["unit_price"] == 500

    missing = item(search={"on_key": "sku", "on_value": "NOPE-1", "auto_create": None})  # null: not given
    text = await call_err(mcp, "create_income_invoice", income_invoice(missing) | {"preview": True})
    assert "no service with sku" in text and "auto_create" in text
    text = await call_err(mcp, "create_income_invoice", income_invoice(missing))
    assert "NOPE-1" in text  # the sandbox's 400, as gigstack answers
    await call_refused(
        mcp,
        sandbox,
        "create_income_invoice",
        income_invoice(item(search={"on_key": "sku", "on_value": "X", "update": True})),
        "items.0.search.update: unknown key",
        "items.0.search takes: on_key, on_value, auto_create",
    )


async def test_third_party_and_search_are_invoice_only(mcp, sandbox):
    """gigstack documents them on the create-income-invoice page only (gigstack-api.md §3.2)."""
    args = {"client": {"id": ACME}, "items": [item(third_party=THIRD)], "payment_form": "03"}
    await call_refused(mcp, sandbox, "register_payment", args, "items.0.third_party: unknown key")


@pytest.mark.parametrize("unit", ["Ohm", "Dx", "X1w", "E48", "KGM"])
async def test_unit_key_takes_the_catalogs_spelling(mcp, sandbox, unit):
    inv = await call_ok(mcp, "create_income_invoice", income_invoice(item(unit_key=unit)))
    assert sandbox.state.store.get(TEAM, "invoices", inv["uuid"])["items"][0]["unit_key"] == unit


@pytest.mark.parametrize("unit", ["ohm", "OHM", "e48", "ZZZ"])
async def test_unit_key_not_in_the_catalog_is_refused(mcp, sandbox, unit):
    await call_refused(
        mcp, sandbox, "create_income_invoice", income_invoice(item(unit_key=unit)), "c_ClaveUnidad"
    )


# -- the client, inline -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool, path, extra",
    [
        ("create_income_invoice", "^/invoices/income$", {"use": "G03", "payment_form": "03"}),
        ("register_payment", "^/payments/register$", {"payment_form": "03"}),
        ("request_payment", "^/payments/request$", {}),
        ("create_receipt", "^/receipts$", {}),
    ],
)
async def test_inline_client_takes_gigstacks_client_fields(mcp, sandbox, tool, path, extra):
    await call_ok(mcp, tool, {"client": INLINE, "items": [item(unit_name="Servicio")], **extra})
    sent = _posted(sandbox, path)
    assert sent["client"] == INLINE | {"metadata": {"crm": "77"}}
    assert sent["items"][0]["unit_name"] == "Servicio"
    (stored,) = sandbox.state.store.find(TEAM, "clients", lambda d: d.get("tax_id") == "GORL850315K29")
    assert stored["company"] == "Gómez Diseño" and stored["bcc"] == ["conta@example.com"]
    assert stored["address"]["street"] == "Insurgentes Sur" and stored["metadata"] == {"crm": "77"}
    await call_ok(mcp, tool, {"client": INLINE, "items": [item()], **extra})  # found again: not created twice
    assert len(sandbox.state.store.find(TEAM, "clients", lambda d: d.get("tax_id") == "GORL850315K29")) == 1


async def test_search_auto_create_false_does_not_create(mcp, sandbox):
    client = INLINE | {"search": {"on_key": "tax_id", "on_value": "GORL850315K29", "auto_create": False}}
    text = await call_err(mcp, "create_income_invoice", income_invoice(client=client))
    assert "Client not found" in text or "no client" in text
    assert not sandbox.state.store.find(TEAM, "clients", lambda d: d.get("tax_id") == "GORL850315K29")


@pytest.mark.parametrize(
    "client, where, keys",
    [
        (
            INLINE | {"search": {"on_key": "tax_id", "on_value": "X", "update": True}},
            "client.search.update",
            "client.search takes: on_key, on_value, auto_create",
        ),
        (INLINE | {"address": {"cp": "06700"}}, "client.address.cp", "client.address takes: zip, street"),
        (INLINE | {"rfc": "GORL850315K29"}, "client.rfc", "client takes: id, name, legal_name"),
    ],
)
async def test_unknown_keys_in_the_inline_client_name_its_keys(mcp, sandbox, client, where, keys):
    await call_refused(
        mcp, sandbox, "create_income_invoice", income_invoice(client=client), f"{where}: unknown key", keys
    )


async def test_nulls_in_the_new_fields_are_not_given(mcp, sandbox):
    nulls = {k: None for k in ("name", "company", "phone", "bcc", "metadata", "use")}
    address = {k: None for k in ("street", "exterior", "interior", "neighborhood", "municipality", "city")}
    client = {"id": ACME, **nulls, "address": {"zip": None, **address}}
    line = item(unit_name=None, third_party=None, search=None)
    extra = {k: None for k in ("complements", "addenda", "invoice_pdf_notes", "return_files_urls")}
    await call_ok(mcp, "create_income_invoice", income_invoice(line, client=client, **extra))
    sent = _posted(sandbox, "^/invoices/income$")
    assert sent["client"] == {"id": ACME} and set(sent["items"][0]) == set(item())
    assert not set(extra) & set(sent)


# -- the invoice body -------------------------------------------------------------------------------------


async def test_complements_addenda_notes_and_file_urls(mcp, sandbox, gigstack):
    extra = {
        "complements": [{"type": "custom", "data": "<x:Custom xmlns:x='urn:x'/>"}],
        "addenda": "<Addenda><Pedido>PO-1</Pedido></Addenda>",
        "invoice_pdf_notes": "Gracias por su compra",
        "return_files_urls": True,
    }
    inv = await call_ok(mcp, "create_income_invoice", income_invoice(**extra))
    assert {k: _posted(sandbox, "^/invoices/income$")[k] for k in extra} == extra
    assert inv["files"]["pdf"].startswith(sandbox.base_url) and inv["files"]["xml"]
    stored = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])
    assert {k: stored[k] for k in extra} == extra
    pdf = await gigstack.download(inv["files"]["pdf"], 1_000_000)
    assert b"Gracias por su compra" in pdf[0]
    addenda = (await _xml(mcp, inv["uuid"])).find(f"{CFDI}Addenda")
    assert addenda.find("Addenda/Pedido").text == "PO-1"
    none = await call_ok(mcp, "create_income_invoice", income_invoice(return_files_urls=False))
    assert "files" not in none
    await call_refused(
        mcp,
        sandbox,
        "create_income_invoice",
        income_invoice(complements=[{"type": "custom", "xml": "<x/>"}]),
        "complements.0.xml: unknown key",
        "complements.0 takes: type, data",
    )


async def test_addenda_with_a_doctype_is_stored_not_parsed(mcp, sandbox):
    """Entities are never expanded: an addenda declaring any is kept as sent, out of the XML."""
    bomb = '<!DOCTYPE a [<!ENTITY b "bbbbbbbb"><!ENTITY c "&b;&b;&b;&b;">]><a>&c;</a>'
    inv = await call_ok(mcp, "create_income_invoice", income_invoice(addenda=bomb))
    assert sandbox.state.store.get(TEAM, "invoices", inv["uuid"])["addenda"] == bomb
    assert (await _xml(mcp, inv["uuid"])).find(f"{CFDI}Addenda") is None
    broken = await call_ok(mcp, "create_income_invoice", income_invoice(addenda="<a><b></a>"))
    assert (await _xml(mcp, broken["uuid"])).find(f"{CFDI}Addenda") is None


async def test_preview_takes_the_same_fields(mcp, sandbox):
    extra = {"addenda": "<A/>", "invoice_pdf_notes": "n", "return_files_urls": True, "complements": []}
    args = income_invoice(item(unit_name="Servicio", third_party=THIRD), client=INLINE, **extra)
    preview = await call_ok(mcp, "create_income_invoice", args | {"preview": True})
    assert not sandbox.state.api_requests("POST")
    done = await call_ok(mcp, "create_income_invoice", args | {"preview_token": preview["preview_token"]})
    assert done["uuid"]
