"""The sandbox's invoicing behaviour over real HTTP: totals, folios, PPD balances and complements,
cancellation rules, signed PDF/XML files, list filters, pagination and team scoping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx
import pytest

from gigstack_mcp.sandbox._invoicing import add_payment_complement, build_invoice, local_ctx
from gigstack_mcp.sandbox.examples import item
from gigstack_mcp.sandbox.server import SandboxServer

from .conftest import API_KEY

TEAM = "team_sandbox"
CFDI = "{http://www.sat.gob.mx/cfd/4}"
TFD = "{http://www.sat.gob.mx/TimbreFiscalDigital}"
IVA16 = {"type": "IVA", "rate": 0.16}


@pytest.fixture
def http(sandbox: SandboxServer):
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


def income(http: httpx.Client, *items: dict, **body) -> httpx.Response:
    payload = {"client": {"id": "client_acme"}, "items": list(items), "payment_form": "03", "use": "G03"}
    return http.post("/invoices/income", json=payload | body)


def created(http: httpx.Client, *items: dict, **body) -> dict:
    r = income(http, *items, **body)
    assert r.status_code == 201, r.text
    return r.json()["data"]


def delete(http: httpx.Client, uuid: str, body: dict | None = None) -> httpx.Response:
    return http.request("DELETE", f"/invoices/{uuid}", json=body)


# -- totals -----------------------------------------------------------------------------------------


def test_iva_16_on_two_units(http):
    inv = created(http, item(1000, 2))
    assert (inv["subtotal"], inv["taxes"], inv["total"]) == (2000, 320, 2320)
    assert inv["status"] == "stamped" and inv["invoice_type"] == "I" and inv["livemode"] is False
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[0-9A-F]{4}-[0-9A-F]{12}", inv["uuid"])
    assert inv["stamp"]["sello"] and inv["stamp"]["stamp_at"] > 0


def test_isr_and_two_thirds_iva_withholdings(http):
    taxes = [
        IVA16,
        {"type": "isr", "rate": 0.10, "withholding": True},
        {"type": "IVA", "rate": 0.106667, "withholding": True},
    ]
    inv = created(http, item(100000, taxes=taxes), payment_method="PPD", payment_form="99")
    assert inv["subtotal"] == 100000 and inv["transferred_taxes"] == 16000
    assert inv["withheld_taxes"] == 20666.70 and inv["taxes"] == -4666.70 and inv["total"] == 95333.30
    assert [t["type"] for t in inv["items"][0]["taxes"]] == ["IVA", "ISR", "IVA"]


def test_inclusive_iva_is_backed_out_of_the_price(http):
    inv = created(http, item(1160, taxes=[{**IVA16, "inclusive": True}]))
    assert inv["items"][0]["unit_price"] == 1000
    assert (inv["subtotal"], inv["taxes"], inv["total"]) == (1000, 160, 1160)


def test_exento_carries_no_amount(http):
    inv = created(http, item(500, 2, taxes=[{"type": "IVA", "factor": "Exento"}]))
    tax = inv["items"][0]["taxes"][0]
    assert "amount" not in tax and tax["base"] == 1000 and tax["rate"] is None
    assert (inv["subtotal"], inv["taxes"], inv["total"]) == (1000, 0, 1000)


def test_discount_and_cuota(http):
    ieps = {"type": "IEPS", "rate": 1.5, "factor": "Cuota"}
    inv = created(http, item(100, 10, taxes=[IVA16], discount=100), item(20, 4, taxes=[ieps]))
    # 1000 - 100 discount -> IVA on 900 = 144; IEPS cuota 1.5 x 4 = 6
    assert inv["subtotal"] == 1080 and inv["discount"] == 100
    assert inv["taxes"] == 150 and inv["total"] == 1130


def test_item_inherits_a_service_and_overrides(http):
    inv = created(http, {"id": "service_hosting", "quantity": 3, "unit_price": 400})
    line = inv["items"][0]
    assert line["description"] == "Hosting mensual" and line["product_key"] == "81112105"
    assert line["unit_price"] == 400 and line["amount"] == 1200 and inv["total"] == 1392
    assert income(http, {"id": "service_missing"}).status_code == 404


def test_bad_bodies_are_refused(http, sandbox):
    before = sandbox.state.store.count(TEAM, "invoices")
    r = income(http)  # no items
    assert r.status_code == 400 and "items" in r.json()["error"]
    r = income(http, item(0))
    assert r.status_code == 400 and "unit_price" in r.json()["error"]
    r = income(http, item(10), currency="USD")
    assert r.status_code == 400 and "exchange_rate" in r.json()["error"]
    r = income(http, item(10, taxes=[{"type": "VAT", "rate": 0.16}]))
    assert r.status_code == 400
    assert sandbox.state.store.count(TEAM, "invoices") == before


# -- series and folios --------------------------------------------------------------------------------


def test_series_and_folios(http, sandbox):
    first = created(http, item(10))
    second = created(http, item(10))
    assert first["series"] == "A" and second["folio_number"] == first["folio_number"] + 1
    doc = sandbox.state.store.get(TEAM, "series", "series_A")
    assert doc["test"] == second["folio_number"] + 1
    b = created(http, item(10), series="B")
    assert (b["series"], b["folio_number"]) == ("B", 1)
    fixed = created(http, item(10), series="B", folio_number=50)
    assert fixed["folio_number"] == 50
    assert created(http, item(10), series="B")["folio_number"] == 51
    egress = http.post("/invoices/egress", json={"client": {"id": "client_acme"}, "items": [item(10)]})
    assert egress.json()["data"]["series"] == "E" and egress.json()["data"]["invoice_type"] == "E"


# -- PPD balance and complements ------------------------------------------------------------------------


def test_ppd_balance_and_complements(http, sandbox):
    inv = created(http, item(1000), payment_method="PPD", payment_form="99")
    assert inv["last_balance"] == 1160 and inv["payment_complements"] == 0
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    stored = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])
    comp = add_payment_complement(ctx, stored, 400, "03")
    assert comp["invoice_type"] == "P" and comp["total"] == 0 and comp["use"] == "CP01"
    assert comp["payment"] | {"date": 0} == comp["payment"] | {
        "amount": 400,
        "payment_form": "03",
        "previous_balance": 1160,
        "remaining_balance": 760,
        "date": 0,
    }
    parent = http.get(f"/invoices/income/{inv['uuid']}").json()["data"]
    assert parent["last_balance"] == 760 and parent["payment_complements"] == 1
    listed = http.get("/invoices/payment", params={"invoice_id": inv["uuid"]}).json()
    assert [c["uuid"] for c in listed["data"]] == [comp["uuid"]]
    got = http.get(f"/invoices/payment/{comp['uuid'].lower()}").json()["data"]
    assert got["payment"]["amount"] == 400
    with pytest.raises(Exception) as over:
        add_payment_complement(ctx, sandbox.state.store.get(TEAM, "invoices", inv["uuid"]), 761, "03")
    assert getattr(over.value, "status", None) == 409
    pue = sandbox.state.store.get(TEAM, "invoices", created(http, item(10))["uuid"])
    with pytest.raises(Exception) as refused:
        add_payment_complement(ctx, pue, 1, "03")
    assert getattr(refused.value, "status", None) == 409 and "PUE" in refused.value.error


# -- cancellation -------------------------------------------------------------------------------------------


def test_cancel_refused_while_complements_exist(http, sandbox):
    inv = created(http, item(1000), payment_method="PPD", payment_form="99")
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    comp = add_payment_complement(ctx, sandbox.state.store.get(TEAM, "invoices", inv["uuid"]), 100, "03")
    r = delete(http, inv["uuid"], {"motive": "02"})
    assert r.status_code == 409
    assert r.json()["message"] == "Cannot cancel invoice"
    assert r.json()["error"] == "Invoice has dependent payment complements"
    # cancelling the complement restores the balance; then the invoice can go
    assert delete(http, comp["uuid"], {"motive": "02"}).status_code == 200
    parent = sandbox.state.store.get(TEAM, "invoices", inv["uuid"])
    assert parent["last_balance"] == 1160 and parent["payment_complements"] == 0
    assert delete(http, inv["uuid"], {"motive": "02"}).status_code == 200


def test_cancel_motive_rules(http, sandbox):
    inv = created(http, item(100))
    r = delete(http, inv["uuid"], {"motive": "01"})
    assert r.status_code == 400 and "substitution_uuid" in r.json()["error"]
    r = delete(http, inv["uuid"], {"motive": "01", "substitution_uuid": inv["uuid"].lower()})
    assert r.status_code == 400 and "not the cancelled one" in r.json()["error"]
    assert delete(http, inv["uuid"], {"motive": "05"}).status_code == 400
    assert delete(http, inv["uuid"]).status_code == 400
    assert sandbox.state.store.get(TEAM, "invoices", inv["uuid"])["status"] == "valid"
    new = created(http, item(100), related_documents=[{"relationship": "04", "documents": [inv["uuid"]]}])
    r = delete(http, inv["uuid"], {"motive": "01", "replacement": new["uuid"]})  # the CLI's alias
    assert r.status_code == 200
    data = r.json()["data"]
    assert (
        data["status"] == "cancelled" and data["motive"] == "01" and data["substitution_uuid"] == new["uuid"]
    )
    assert data["cancellation_status"] == "accepted" and data["cancelled_at"] > 0  # 116.00 <= 1000
    again = delete(http, inv["uuid"], {"motive": "02"})
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]


def test_cancel_needs_receiver_acceptance_over_1000(http):
    big = created(http, item(1000))
    r = delete(http, big["uuid"], {"motive": "03"})
    assert r.json()["data"]["cancellation_status"] == "pending_acceptance"
    assert "accept" in r.json()["message"]
    general = created(http, item(5000), client={"id": "client_publico_general"}, use="S01")
    assert delete(http, general["uuid"], {"motive": "02"}).json()["data"]["cancellation_status"] == "accepted"
    assert delete(http, "00000000-0000-4000-8000-000000000000", {"motive": "02"}).status_code == 404


# -- egress ---------------------------------------------------------------------------------------------------


def test_egress_relationship_01_must_credit_an_income_invoice(http):
    source = created(http, item(1000))
    body = {"client": {"id": "client_acme"}, "use": "G02", "items": [item(100)]}
    unknown = {"relationship": "01", "documents": ["5F3A1C2E-1234-4ABC-9DEF-0123456789AB"]}
    r = http.post("/invoices/egress", json=body | {"related_documents": [unknown]})
    assert r.status_code == 400 and "not an income invoice" in r.json()["error"]
    good = {"relationship": "01", "documents": [source["uuid"].lower()]}
    r = http.post("/invoices/egress", json=body | {"related_documents": [good]})
    assert r.status_code == 201
    egress = r.json()["data"]
    assert egress["related_documents"][0]["documents"] == [source["uuid"]]
    assert http.get(f"/invoices/egress/{egress['uuid']}").status_code == 200
    assert http.get(f"/invoices/income/{egress['uuid']}").status_code == 404


# -- files ----------------------------------------------------------------------------------------------------


def check_pdf(pdf: bytes) -> None:
    """A structural check of a PDF with no external library: header, xref offsets, trailer."""
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    start = int(re.search(rb"startxref\n(\d+)", pdf).group(1))
    assert pdf[start : start + 4] == b"xref"
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n", pdf)]
    for n, off in enumerate(offsets, start=1):
        assert pdf[off:].startswith(b"%d 0 obj" % n)
    for length, body in re.findall(rb"/Length (\d+) >>\nstream\n(.*?)\nendstream", pdf, re.S):
        assert int(length) == len(body)


def test_files_are_signed_and_real(http, sandbox):
    inv = created(http, item(1000, 2))
    urls = http.get(f"/invoices/{inv['uuid']}/files").json()["data"]
    assert set(urls) == {"uuid", "pdf", "xml"} and "sig=" in urls["pdf"]
    pdf = httpx.get(urls["pdf"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    check_pdf(pdf.content)
    assert inv["uuid"].encode() in pdf.content and b"AIN980512QX9" in pdf.content
    xml = httpx.get(urls["xml"]).content
    root = ET.fromstring(xml)
    assert root.tag == f"{CFDI}Comprobante" and root.get("Version") == "4.0"
    assert root.get("Total") == "2320.00" and root.get("TipoDeComprobante") == "I"
    receptor = root.find(f"{CFDI}Receptor")
    assert receptor.get("Rfc") == "AIN980512QX9" and receptor.get("DomicilioFiscalReceptor") == "44100"
    assert receptor.get("RegimenFiscalReceptor") == "601" and receptor.get("UsoCFDI") == "G03"
    assert root.find(f"{CFDI}Emisor").get("Rfc") == "DSA200101AB8"
    assert root.find(f"{CFDI}Impuestos").get("TotalImpuestosTrasladados") == "320.00"
    assert root.find(f".//{TFD}TimbreFiscalDigital").get("UUID") == inv["uuid"]
    only_xml = http.get(f"/invoices/{inv['uuid']}/files", params={"file_type": "xml"}).json()["data"]
    assert "pdf" not in only_xml and only_xml["xml"] == urls["xml"]
    assert http.get(f"/invoices/{inv['uuid']}/files", params={"file_type": "doc"}).status_code == 400
    # unguessable: a wrong signature or another team's path is refused
    assert httpx.get(urls["pdf"].replace("sig=", "sig=0")).status_code == 403
    assert httpx.get(urls["xml"].split("?")[0]).status_code == 403
    assert httpx.get(urls["xml"].replace(TEAM, "team_other")).status_code == 403


def test_global_and_related_documents_in_xml(http):
    general = created(
        http,
        item(50000),
        client={"id": "client_publico_general"},
        use="S01",
        payment_form="01",
        **{"global": {"periodicity": "04", "months": "01", "year": 2026}},
    )
    new = created(http, item(10), related_documents=[{"relationship": "04", "documents": [general["uuid"]]}])
    xml_of = lambda inv: ET.fromstring(  # noqa: E731
        httpx.get(http.get(f"/invoices/{inv['uuid']}/files").json()["data"]["xml"]).content
    )
    info = xml_of(general).find(f"{CFDI}InformacionGlobal")
    assert (info.get("Periodicidad"), info.get("Meses"), info.get("Año")) == ("04", "01", "2026")
    rel = xml_of(new).find(f"{CFDI}CfdiRelacionados")
    assert rel.get("TipoRelacion") == "04"
    assert rel.find(f"{CFDI}CfdiRelacionado").get("UUID") == general["uuid"]


def test_payment_complement_files(http, sandbox):
    inv = created(http, item(1000), payment_method="PPD", payment_form="99")
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    comp = add_payment_complement(ctx, sandbox.state.store.get(TEAM, "invoices", inv["uuid"]), 500, "03")
    urls = http.get(f"/invoices/{comp['uuid']}/files").json()["data"]
    root = ET.fromstring(httpx.get(urls["xml"]).content)
    assert root.get("TipoDeComprobante") == "P" and root.get("Moneda") == "XXX" and root.get("Total") == "0"
    docto = root.find(".//{http://www.sat.gob.mx/Pagos20}DoctoRelacionado")
    assert docto.get("IdDocumento") == inv["uuid"] and docto.get("ImpSaldoInsoluto") == "660.00"
    check_pdf(httpx.get(urls["pdf"]).content)


# -- lists, pagination, scoping ---------------------------------------------------------------------------------


def test_seeded_invoices(http):
    page = http.get("/invoices/income").json()
    assert page["total_results"] == 2
    ppd, pue = page["data"]  # newest first
    assert ppd["client"]["id"] == "client_acme" and ppd["payment_method"] == "PPD"
    assert ppd["payment_complements"] == 0 and ppd["last_balance"] == ppd["total"] == 6960
    assert pue["client"]["id"] == "client_juan_perez" and pue["total"] == 2320


def test_list_filters(http):
    a = created(http, item(10), client={"id": "client_juan_perez"}, series="Z")
    created(http, item(10), payment_method="PPD", payment_form="99")
    q = lambda **params: [d["uuid"] for d in http.get("/invoices/income", params=params).json()["data"]]  # noqa: E731
    assert q(series="Z") == [a["uuid"]]
    assert len(q(client_id="client_juan_perez")) == 2
    assert len(q(payment_method="PPD")) == 4 == len(q())  # taken, not honoured (gigstack's CLI context.ts)
    assert q(series="Z", folio_number=a["folio_number"]) == [a["uuid"]]
    delete(http, a["uuid"], {"motive": "02"})
    assert q(status="cancelled") == [a["uuid"]] == q(status="canceled")
    assert a["uuid"] not in q(status="valid")
    assert len(q(**{"created[gte]": a["created_at"]})) == 2
    assert len(q(**{"created[lte]": a["created_at"] - 86400})) == 2  # the seeded ones, days old
    assert len(q(**{"created_gte": a["created_at"] - 10 * 86400})) == 3
    assert http.get("/invoices/income", params={"folio_number": "x"}).status_code == 400


def test_pagination_over_many_invoices(http, sandbox):
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    for n in range(25):
        build_invoice(ctx, {"client": {"id": "client_acme"}, "items": [item(10 + n)]}, "I")
    seen, cursor = [], None
    while True:
        params = {"limit": 10} | ({"next": cursor} if cursor else {})
        page = http.get("/invoices/income", params=params).json()
        assert page["total_results"] == 27
        seen += [d["uuid"] for d in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next"]
    assert len(seen) == len(set(seen)) == 27


def test_team_scoping():
    keys = {"sk_test_team_a": "team_a", "sk_test_team_b": "team_b"}
    with SandboxServer(keys) as sb:
        a = httpx.Client(base_url=sb.url, headers={"Authorization": "Bearer sk_test_team_a"})
        b = httpx.Client(base_url=sb.url, headers={"Authorization": "Bearer sk_test_team_b"})
        inv = created(a, item(100))
        assert b.get(f"/invoices/income/{inv['uuid']}").status_code == 404
        assert inv["uuid"] not in [d["uuid"] for d in b.get("/invoices/income").json()["data"]]
        assert b.get("/invoices/income", params={"team": "team_a"}).status_code == 403
        assert delete(b, inv["uuid"], {"motive": "02"}).status_code == 404
        url_a = a.get(f"/invoices/{inv['uuid']}/files").json()["data"]["pdf"]
        assert httpx.get(url_a.replace("team_a", "team_b")).status_code == 403
        assert sb.state.store.get("team_a", "series", "series_A")["test"] == 4  # 2 seeded + 1
        assert sb.state.store.get("team_b", "series", "series_A")["test"] == 3
        a.close()
        b.close()


# -- services -----------------------------------------------------------------------------------------------------


def test_services_crud_and_validation(http, sandbox):
    r = http.post("/services", json={"description": "Soporte", "unit_price": 250, "product_key": "81112200"})
    assert r.status_code == 201
    svc = r.json()["data"]
    assert svc["id"].startswith("service_") and svc["taxability"] == "02"
    assert http.post("/services", json={"description": "x"}).status_code == 400
    assert http.post("/services", json={"description": "x", "unit_price": 0}).status_code == 400
    bad_key = http.post("/services", json={"description": "x", "unit_price": 1, "product_key": "123"})
    assert bad_key.status_code == 400 and "product_key" in bad_key.json()["error"]
    r = http.put(f"/services/{svc['id']}", json={"unit_price": 300})
    assert r.json()["data"]["unit_price"] == 300
    assert http.put(f"/services/{svc['id']}", json={}).status_code == 400
    assert http.delete(f"/services/{svc['id']}").json()["data"] == {"id": svc["id"], "deleted": True}
    assert http.get(f"/services/{svc['id']}").status_code == 404
    assert http.get("/services").json()["total_results"] == 2
