"""Every request body gigstack documents goes through its tool unchanged (issue 13, "accept what gigstack
documents"): each body below is copied from ../shared (its source on the line above it) and sent, as
written, over a real MCP session to the sandbox; the test asserts the sandbox received it and what it
stamped or stored.

The exceptions, each explicit where it happens:
- ids that exist only in the docs (client_123, client_1234567890, the related UUID) are created in the
  sandbox first or mapped to real ids (`_ids`); client_publico_general is a seeded client;
- metadata objects are written as "key=value" strings (tools publish maps that way: OpenAI strict mode
  and Gemini take no free-form object); gigstack still receives its object;
- uso P01 is refused by the CFDI 4.0 guard (USO-CATALOG: P01 left the SAT catalog with CFDI 4.0); the
  same body with use G03 (S01 for the global invoice) then goes through;
- the sample RFC PEGJ800101ABC ends in C, which is not an RFC check character (0-9 or A): refused as the
  receptor's RFC always is; the same body with the seeded PEGJ800101AB6 then goes through.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import both_eras, call_err, call_ok, one_era

pytestmark = pytest.mark.anyio
TEAM = "team_sandbox"
REFUSED = "Invalid arguments"
DOCS_RFC, REAL_RFC = "PEGJ800101ABC", "PEGJ800101AB6"  # the seeded Juan Pérez García's RFC

# -- gigstack-api.md §5 (examples paraphrased from gigstack's docs and CLI) ------------------------------

# gigstack-api.md §5 "Create client" (POST /clients)
CREATE_CLIENT = """{"name":"Juan Pérez García","legal_name":"JUAN PEREZ GARCIA","tax_id":"PEGJ800101ABC",
"tax_system":"612","use":"G03","email":"juan@example.com","address":{"zip":"03100","country":"MEX"},
"metadata":{"crm_id":"42"}}"""

# gigstack-api.md §5 "Income invoice, PUE" (POST /invoices/income)
INCOME_PUE = """{"client":{"id":"client_123"},"payment_method":"PUE","payment_form":"03","use":"G03","currency":"MXN",
 "items":[{"description":"Consultoría","quantity":2,"unit_price":1000,"product_key":"80141503","unit_key":"E48","unit_name":"Servicio",
           "taxability":"02","taxes":[{"type":"IVA","rate":0.16,"factor":"Tasa","withholding":false,"inclusive":false}]}],
 "send_email":true,"emails":["conta@example.com"],"idempotency_key":"order-981"}"""

# gigstack-api.md §5 "Income invoice, PPD"
INCOME_PPD = """{"client":{"id":"client_123"},"payment_method":"PPD","payment_form":"99","use":"G03","automation_type":"none",
 "items":[{"description":"Proyecto total","quantity":1,"unit_price":100000,"product_key":"80141503","unit_key":"E48",
           "taxes":[{"type":"IVA","rate":0.16},{"type":"ISR","rate":0.10,"withholding":true},{"type":"IVA","rate":0.106667,"withholding":true}]}]}"""

# gigstack-api.md §5 "Global invoice (público en general)"
GLOBAL = """{"client":{"id":"client_publico_general"},"payment_method":"PUE","payment_form":"01","use":"S01",
 "global":{"periodicity":"04","months":"01","year":2024},
 "items":[{"description":"Ventas del periodo","quantity":1,"unit_price":50000,"product_key":"01010101","unit_key":"ACT","taxes":[{"type":"IVA","rate":0.16}]}]}"""

# gigstack-api.md §5 "Egress invoice (credit note) with related documents" (POST /invoices/egress)
EGRESS = """{"client":{"id":"client_123"},"payment_method":"PUE","payment_form":"03","use":"G02",
 "related_documents":[{"relationship":"01","documents":["5F3A1C2E-1234-4ABC-9DEF-0123456789AB"]}],
 "items":[{"description":"Descuento sobre factura A-124","quantity":1,"unit_price":500,"product_key":"84111506","unit_key":"ACT",
           "taxes":[{"type":"IVA","rate":0.16}]}]}"""

# gigstack-api.md §5 "Register payment" (POST /payments/register)
REGISTER = """{"client":{"search":{"on_key":"tax_id","on_value":"PEGJ800101ABC","auto_create":true},"tax_id":"PEGJ800101ABC","email":"juan@example.com"},
 "items":[{"description":"Consultoría marzo","quantity":1,"unit_price":15000,"product_key":"84111506","unit_key":"E48",
           "taxes":[{"type":"IVA","rate":0.16,"factor":"Tasa","withholding":false}]}],
 "payment_form":"03","currency":"MXN","automation_type":"pue_invoice","idempotency_key":"bank-tx-7781",
 "invoice_config":{"serie":"A"},"metadata":{"order_id":"ORD-1"}}"""

# gigstack-api.md §5 "Cancel invoice" (DELETE /invoices/{uuid} with a JSON body)
CANCEL = """{"motive":"01","substitution_uuid":"9B2C…-new-invoice-uuid"}"""
CANCEL_02 = """{"motive":"02"}"""

# -- seed/gigstack-api-docs-excerpt.txt (gigstack's Invoices API Guide) ----------------------------------

# seed, "Create Income Invoice" request body
SEED_INCOME = """{
    "automation_type": "payment",
    "client": {"id": "client_1234567890"},
    "currency": "MXN",
    "exchange_rate": 1.0,
    "items": [
        {
            "description": "Consulting services",
            "quantity": 2,
            "unit_price": 1000.0,
            "product_key": "80141503",
            "unit_key": "E48",
            "unit_name": "Servicio",
            "taxes": [{"type": "IVA", "rate": 0.16, "factor": "Tasa", "withholding": false}]
        }
    ],
    "use": "P01",
    "payment_form": "03",
    "payment_method": "PUE",
    "series": "A",
    "folio_number": 123,
    "send_email": true,
    "emails": ["client@example.com"]
}"""

# seed, "Invoice with Multiple Items and Taxes"
SEED_MULTIPLE = """{
    "automation_type": "payment",
    "client": {"id": "client_1234567890"},
    "currency": "MXN",
    "exchange_rate": 1.0,
    "items": [
        {
            "description": "Consulting services - Phase 1",
            "quantity": 10,
            "unit_price": 1000.0,
            "product_key": "80141503",
            "unit_key": "HUR",
            "taxes": [{"type": "IVA", "rate": 0.16, "withholding": false}]
        },
        {
            "description": "Software license",
            "quantity": 1,
            "unit_price": 5000.0,
            "product_key": "81111500",
            "unit_key": "H87",
            "taxes": [{"type": "IVA", "rate": 0.16, "withholding": false}]
        }
    ],
    "use": "G03",
    "payment_form": "03",
    "payment_method": "PUE"
}"""

# seed, "Invoice with Withholding Taxes"
SEED_WITHHOLDING = """{
    "automation_type": "payment",
    "client": {"id": "client_1234567890"},
    "currency": "MXN",
    "exchange_rate": 1.0,
    "items": [
        {
            "description": "Professional services",
            "quantity": 1,
            "unit_price": 10000.0,
            "product_key": "80141503",
            "unit_key": "E48",
            "taxes": [
                {"type": "IVA", "rate": 0.16, "withholding": false},
                {"type": "ISR", "rate": 0.1, "withholding": true},
                {"type": "IVA", "rate": 0.106667, "withholding": true}
            ]
        }
    ],
    "use": "G03",
    "payment_form": "03",
    "payment_method": "PUE"
}"""

# seed, "PPD Invoice (Partial Payments)"
SEED_PPD = """{
    "automation_type": "none",
    "client": {"id": "client_1234567890"},
    "currency": "MXN",
    "exchange_rate": 1.0,
    "items": [
        {
            "description": "Large project - Total amount",
            "quantity": 1,
            "unit_price": 100000.0,
            "product_key": "80141503",
            "unit_key": "E48",
            "taxes": [{"type": "IVA", "rate": 0.16}]
        }
    ],
    "use": "G03",
    "payment_form": "99",
    "payment_method": "PPD"
}"""

# seed, "Global Invoice"
SEED_GLOBAL = """{
    "automation_type": "none",
    "client": {"id": "client_publico_general"},
    "currency": "MXN",
    "exchange_rate": 1.0,
    "global": {"periodicity": "04", "months": "01", "year": 2024},
    "items": [
        {
            "description": "Ventas del periodo",
            "quantity": 1,
            "unit_price": 50000.0,
            "product_key": "01010101",
            "unit_key": "ACT",
            "taxes": [{"type": "IVA", "rate": 0.16}]
        }
    ],
    "use": "P01",
    "payment_form": "03",
    "payment_method": "PUE"
}"""


def _body(text: str, **ids: str) -> dict[str, Any]:
    """A documented body, with the docs-only ids replaced by real ones (the one documented exception)."""
    for docs_id, real in ids.items():
        text = text.replace(docs_id, real)
    return json.loads(text)


def _as_pairs(body: dict[str, Any]) -> dict[str, Any]:
    """The tool's form of a documented metadata object: "key=value" strings (the representation change)."""
    meta = body.get("metadata")
    return body | {"metadata": [f"{k}={v}" for k, v in meta.items()]} if meta else body


def _received(sandbox, method: str, path: str) -> dict[str, Any]:
    """The body of the last `method path` the sandbox received."""
    return sandbox.state.api_requests(method, path)[-1]["body"]


def _numbers_equal(sent: Any, documented: Any) -> bool:
    """The same JSON value: 2 and 2.0 are one number (the tool validates numbers as floats)."""
    return json.loads(json.dumps(sent), parse_int=float) == json.loads(
        json.dumps(documented), parse_int=float
    )


async def _client_123(mcp) -> str:
    """client_123 of the examples: the create-client example itself (with the RFC exception)."""
    body = _as_pairs(_body(CREATE_CLIENT, **{DOCS_RFC: REAL_RFC}))
    return (await call_ok(mcp, "create_client", body))["id"]


async def _income(mcp, sandbox, body: dict[str, Any], tool: str = "create_income_invoice") -> dict:
    """Send a documented invoice body unchanged; the sandbox receives exactly it; the stamped invoice."""
    path = "^/invoices/income$" if tool == "create_income_invoice" else "^/invoices/egress$"
    inv = await call_ok(mcp, tool, body)
    sent = {k: v for k, v in _received(sandbox, "POST", path).items() if k != "idempotency_key"}
    documented = {k: v for k, v in body.items() if k != "idempotency_key"}
    assert _numbers_equal(sent, documented), (sent, documented)
    return inv


# -- the create-client example --------------------------------------------------------------------------


@one_era
async def test_create_client_example(mcp, sandbox):
    documented = _body(CREATE_CLIENT)
    text = await call_err(mcp, "create_client", _as_pairs(documented))  # exception: the RFC's check char
    assert REFUSED in text and "tax_id" in text
    body = _body(CREATE_CLIENT, **{DOCS_RFC: REAL_RFC})
    created = await call_ok(mcp, "create_client", _as_pairs(body))
    assert _received(sandbox, "POST", "^/clients$") == body  # the metadata object, as documented
    stored = sandbox.state.store.get(TEAM, "clients", created["id"])
    assert stored["metadata"] == {"crm_id": "42"} and stored["use"] == "G03"
    assert stored["address"] == {"zip": "03100", "country": "MEX"} and stored["is_valid"] is True


# -- invoices -------------------------------------------------------------------------------------------


@one_era
async def test_income_pue_example(mcp, sandbox):
    body = _body(INCOME_PUE, client_123=await _client_123(mcp))
    inv = await _income(mcp, sandbox, body)
    assert _received(sandbox, "POST", "^/invoices/income$")["idempotency_key"] == "order-981"
    assert (inv["subtotal"], inv["total"]) == (2000, 2320)
    stored = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])
    assert stored["items"][0]["unit_name"] == "Servicio" and stored["emails"] == ["conta@example.com"]


@one_era
async def test_income_ppd_example(mcp, sandbox):
    body = _body(INCOME_PPD, client_123=await _client_123(mcp))
    inv = await _income(mcp, sandbox, body)
    assert inv["payment_method"] == "PPD" and inv["last_balance"] == inv["total"] == 95333.3


@one_era
async def test_global_examples(mcp, sandbox):
    inv = await _income(mcp, sandbox, _body(GLOBAL))  # gigstack-api.md §5: uso S01 already
    stored = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])
    assert stored["global"] == {"periodicity": "04", "months": "01", "year": 2024} and inv["total"] == 58000
    seed = _body(SEED_GLOBAL)
    text = await call_err(mcp, "create_income_invoice", seed)  # exception: uso P01
    assert "USO-CATALOG" in text and "P01" in text
    inv = await _income(mcp, sandbox, seed | {"use": "S01"})
    assert sandbox.state.store.get(TEAM, "invoices", inv["uuid"])["use"] == "S01"


@one_era
async def test_egress_example_credits_an_income_invoice(mcp, sandbox):
    client = await _client_123(mcp)
    parent = await _income(mcp, sandbox, _body(INCOME_PUE, client_123=client))
    body = _body(EGRESS, client_123=client, **{"5F3A1C2E-1234-4ABC-9DEF-0123456789AB": parent["uuid"]})
    credit = await _income(mcp, sandbox, body, tool="create_egress_invoice")
    assert credit["invoice_type"] == "E" and credit["total"] == 580
    assert credit["related_documents"] == [{"relationship": "01", "documents": [parent["uuid"]]}]


@one_era
async def test_seed_create_income_invoice(mcp, sandbox):
    seed = _body(SEED_INCOME, client_1234567890="client_acme")
    text = await call_err(mcp, "create_income_invoice", seed)  # exception: uso P01
    assert "USO-CATALOG" in text and "P01" in text
    assert not sandbox.state.api_requests("POST", "^/invoices/income$")
    inv = await _income(mcp, sandbox, seed | {"use": "G03"})  # the items[].unit_name refused before
    assert (inv["series"], inv["folio_number"], inv["total"]) == ("A", 123, 2320)
    stored = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])
    assert stored["items"][0]["unit_name"] == "Servicio" and stored["automation_type"] == "payment"


@one_era
@pytest.mark.parametrize("text, total", [(SEED_MULTIPLE, 17400), (SEED_WITHHOLDING, 9533.33)])
async def test_seed_invoices_with_several_items_or_withholdings(mcp, sandbox, text, total):
    inv = await _income(mcp, sandbox, _body(text, client_1234567890="client_acme"))
    assert inv["total"] == total


@one_era
async def test_seed_ppd_invoice(mcp, sandbox):
    inv = await _income(mcp, sandbox, _body(SEED_PPD, client_1234567890="client_acme"))
    assert inv["payment_method"] == "PPD" and inv["last_balance"] == 116000


# -- payments -------------------------------------------------------------------------------------------


@one_era
async def test_register_payment_example(mcp, sandbox):
    documented = _body(REGISTER)
    text = await call_err(mcp, "register_payment", _as_pairs(documented))  # exception: the RFC's check char
    assert REFUSED in text and "client.tax_id" in text
    body = _body(REGISTER, **{DOCS_RFC: REAL_RFC})
    paid = await call_ok(mcp, "register_payment", _as_pairs(body))
    sent = _received(sandbox, "POST", "^/payments/register$")
    assert _numbers_equal(sent, body)  # metadata back to its object, invoice_config, search.auto_create
    assert paid["status"] == "succeeded" and paid["total"] == 17400
    (uuid,) = paid["invoices"]
    invoice = sandbox.state.store.get(TEAM, "invoices", uuid)
    assert invoice["series"] == "A" and invoice["client"]["tax_id"] == REAL_RFC
    assert sandbox.state.store.get(TEAM, "payments", paid["id"])["metadata"] == {"order_id": "ORD-1"}


# -- cancellation ---------------------------------------------------------------------------------------


@both_eras
async def test_cancel_invoice_examples(mcp, sandbox):
    old = await _income(mcp, sandbox, _body(SEED_MULTIPLE, client_1234567890="client_acme"))
    new = await _income(
        mcp,
        sandbox,
        _body(SEED_MULTIPLE, client_1234567890="client_acme")
        | {"related_documents": [{"relationship": "04", "documents": [old["uuid"]]}]},
    )
    for text, uuid in ((CANCEL, old["uuid"]), (CANCEL_02, new["uuid"])):
        body = _body(text, **{"9B2C…-new-invoice-uuid": new["uuid"]})  # a docs-only uuid, mapped
        first = await call_ok(mcp, "cancel_invoice", {"uuid": uuid, **body})
        done = await call_ok(
            mcp, "cancel_invoice", {"uuid": uuid, **body, "confirmation_token": first["confirmation_token"]}
        )
        assert done["status"] == "done"
        assert _received(sandbox, "DELETE", f"^/invoices/{uuid}$") == body
