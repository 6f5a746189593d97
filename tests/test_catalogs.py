"""SAT catalogs: the lookup API, the catalog:// resources and the lookup_catalog tool (through a real MCP
session in both protocol eras), and a cross-check of the data against the `satcfdi` package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import get_args

import pytest
from mcp import MCPError

from gigstack_mcp import catalogs as cat
from gigstack_mcp.tools.catalogs import CatalogSlug

from .conftest import call_err, call_ok

# -- the USO-REGIMEN matrix of cfdi-rules.md, verbatim (F = física, M = moral) ----------------------
# A catalog refresh that changes which usos a régimen allows must fail here and be reviewed by a human.

G = ["G01", "G02", "G03"]
I = [f"I0{n}" for n in range(1, 9)]  # noqa: E741
D = [f"D{n:02d}" for n in range(1, 11)]
MATRIX = {
    "601M 603M 620M 621F 622M 623M 624M 626FM": G + I + ["S01", "CP01"],
    "606F 612F 625F": G + I + D + ["S01", "CP01"],
    "605F": D + ["S01", "CP01", "CN01"],
    "607F 608F 611F 614F 615F": D + ["S01", "CP01"],
    "610FM": ["S01", "CP01"],
    "616F": ["G02", "S01", "CP01"],
}
REGIMES = {cell[:3]: (cell[3:], usos) for cells, usos in MATRIX.items() for cell in cells.split()}


def test_uso_regimen_matrix_is_exactly_the_reviewed_one():
    assert set(REGIMES) == {r["code"] for r in cat.rows("regimen-fiscal")}
    for code, (marks, usos) in REGIMES.items():
        regimen = cat.entry("regimen-fiscal", code)
        assert (regimen["fisica"], regimen["moral"]) == ("F" in marks, "M" in marks), code
        assert [u["code"] for u in cat.usos_for_regimen(code)] == usos, code


def test_persona_narrows_usos():
    # D01-D10 and CN01 are persona física only, even under a régimen that allows moral.
    assert not any(u["code"].startswith("D") for u in cat.usos_for_regimen("626", "moral"))
    assert [u["code"] for u in cat.usos_for_regimen("605", "fisica")] == D + ["S01", "CP01", "CN01"]
    assert cat.usos_for_regimen("605", "moral") == [
        u for u in cat.usos_for_regimen("605") if u["persona_moral"]
    ]
    assert cat.persona_from_rfc("GORL850315K29") == "fisica"
    assert cat.persona_from_rfc("ACM010101ABC") == "moral"
    assert cat.persona_from_rfc("XAXX010101000") == "fisica"
    assert cat.persona_from_rfc("NOPE") is None


def test_entry_and_search():
    assert cat.entry("uso-cfdi", "g03")["description"] == "Gastos en general."
    assert cat.entry("forma-pago", "3")["code"] == "03"
    assert cat.entry("impuesto", "2")["description"] == "IVA"
    assert cat.entry("impuesto", "03") is None  # only unpadded input is padded
    assert cat.entry("uso-cfdi", "P01") is None and cat.entry("regimen-fiscal", "609") is None
    # every catalog, c_ClaveProdServ included, best first
    first = {
        q: (r[0]["catalog"], r[0]["code"])
        for q in ("transferencia", "gastos en general")
        if (r := cat.search(None, q))
    }
    assert first == {"transferencia": ("forma-pago", "03"), "gastos en general": ("uso-cfdi", "G03")}
    assert [r["code"] for r in cat.search("regimen-fiscal", "REGIMEN simplificado de confianza")] == ["626"]
    assert [r["code"] for r in cat.search("forma-pago", "transf electronica")] == ["03"]  # word prefixes
    assert cat.search(None, "pue")[0]["code"] == "PUE"  # an exact code comes first
    assert cat.search(None, "  ") == [] and cat.search(None, "definitiva iva") == []


def test_catalog_slugs_and_legacy_codes_are_consistent():
    assert get_args(CatalogSlug) == tuple(cat.CATALOGS)
    for slug, legacy in cat.LEGACY.items():
        assert not set(legacy) & {r["code"] for r in cat.rows(slug)}, slug
    codes = [r["code"] for r in cat.rows("tasa-o-cuota")]
    assert len(codes) == len(set(codes)) == 19  # synthetic codes are unique
    assert cat.tasa_allowed("002", "Tasa", "0.160000") and cat.tasa_allowed("002", "Tasa", 0.08)
    assert not cat.tasa_allowed("002", "Tasa", "0.10")
    assert cat.tasa_allowed("002", "Tasa", "0.106667", retencion=True)
    assert cat.tasa_allowed("001", "Tasa", "0.0125", retencion=True)
    assert not cat.tasa_allowed("001", "Tasa", "0.10")  # ISR is never traslado
    assert cat.tasa_allowed("003", "Cuota", "72.1605") and not cat.tasa_allowed("003", "Cuota", "72.2")


def test_nothing_is_loaded_at_import_or_start_up():
    code = (
        "from gigstack_mcp.server import build_server\n"
        "from gigstack_mcp.settings import Settings\n"
        "from gigstack_mcp import catalogs\n"
        "build_server(Settings(api_key='k', toolsets='all'))\n"
        "assert catalogs.load.cache_info().currsize == 0, catalogs.load.cache_info()\n"
        "assert catalogs.rows.cache_info().currsize == 0\n"
    )
    env = {**os.environ, "GIGSTACK_TOOL_CACHE": "off"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


# -- resources ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_resources_and_templates_are_listed(mcp):
    resources = (await mcp.list_resources()).resources
    catalog = {str(r.uri): r for r in resources if str(r.uri).startswith("catalog://")}
    assert set(catalog) == {f"catalog://{slug}" for slug in cat.CATALOGS}
    assert all(r.title and r.description and r.mime_type == "application/json" for r in catalog.values())
    assert catalog["catalog://uso-cfdi"].title == "Uso del CFDI (c_UsoCFDI)"
    templates = (await mcp.list_resource_templates()).resource_templates
    uris = {t.uri_template for t in templates if t.uri_template.startswith("catalog://")}
    search = {f"catalog://{slug}/search{{?q,page}}" for slug in cat.LARGE}
    assert uris == {f"catalog://{slug}/{{code}}" for slug in cat.CATALOGS} | search
    names = [t.name for t in templates]
    assert len(names) == len(set(names))


@pytest.mark.anyio
async def test_read_whole_catalog(mcp):
    result = await mcp.read_resource("catalog://uso-cfdi")
    assert result.contents[0].mime_type == "application/json"
    doc = json.loads(result.contents[0].text)
    assert doc["catalog"] == "uso-cfdi" and doc["sat_catalog"] == "c_UsoCFDI"
    assert "phpcfdi/resources-sat-catalogs" in doc["source"] and "2026-08-06" in doc["version"]
    assert "vigencia" in doc and doc["cfdi_version"] == "4.0"
    codes = [r["code"] for r in doc["rows"]]
    assert len(codes) == 24 and "G03" in codes and "P01" not in codes
    regimen = json.loads((await mcp.read_resource("catalog://regimen-fiscal")).contents[0].text)
    assert len(regimen["rows"]) == 19 and "609" not in {r["code"] for r in regimen["rows"]}


@pytest.mark.anyio
async def test_read_one_entry(mcp):
    g03 = json.loads((await mcp.read_resource("catalog://uso-cfdi/G03")).contents[0].text)
    assert g03["description"] == "Gastos en general." and "612" in g03["regimenes_receptor"]
    assert g03["persona_fisica"] and g03["persona_moral"]
    motivo = json.loads((await mcp.read_resource("catalog://motivo-cancelacion/01")).contents[0].text)
    assert motivo["requiere_folio_sustitucion"] is True
    tasa = json.loads((await mcp.read_resource("catalog://tasa-o-cuota/002-Tasa-0.160000")).contents[0].text)
    assert tasa["traslado"] and not tasa["retencion"] and tasa["tipo"] == "Fijo"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "uri", ["catalog://uso-cfdi/P01", "catalog://regimen-fiscal/609", "catalog://meses/99"]
)
async def test_unknown_code_is_resource_not_found(mcp, uri):
    with pytest.raises(MCPError) as err:
        await mcp.read_resource(uri)
    assert err.value.error.code == -32602  # ResourceNotFoundError (invalid params), not an internal error
    assert "catalog://" in err.value.error.message


# -- the lookup_catalog tool ---------------------------------------------------------------------------


def _codes(result: dict) -> list[tuple[str, str]]:
    return [(e["catalog"], e["code"]) for e in result["data"]]


@pytest.mark.anyio
async def test_lookup_tool_shape(mcp):
    tool = next(t for t in (await mcp.list_tools()).tools if t.name == "lookup_catalog")
    assert tool.annotations.read_only_hint is True and tool.annotations.open_world_hint is False
    # destructiveHint/idempotentHint mean nothing next to readOnlyHint (spec), so they are not sent
    assert tool.annotations.destructive_hint is None and tool.annotations.idempotent_hint is None
    schema = tool.input_schema
    assert "anyOf" not in schema and "oneOf" not in schema
    assert set(schema["properties"]) == {"catalog", "code", "query", "regimen", "persona", "limit", "team"}
    assert schema["properties"]["catalog"]["enum"] == list(cat.CATALOGS)
    assert len(json.dumps(schema)) <= 1000


@pytest.mark.anyio
async def test_lookup_by_words(mcp, sandbox):
    before = len(sandbox.state.api_requests())
    found = await call_ok(mcp, "lookup_catalog", {"query": "transferencia"})
    assert _codes(found)[0] == ("forma-pago", "03")  # then c_ClaveProdServ rows with the word
    found = await call_ok(mcp, "lookup_catalog", {"query": "gastos en general"})
    assert _codes(found)[0] == ("uso-cfdi", "G03")
    assert found["data"][0]["description"] == "Gastos en general."
    assert found["data"][0]["persona_moral"] is True and "626" in found["data"][0]["regimenes_receptor"]
    found = await call_ok(mcp, "lookup_catalog", {"query": "regimen simplificado de confianza"})
    assert _codes(found)[0] == ("regimen-fiscal", "626")
    assert found["data"][0]["persona_fisica"] and found["data"][0]["persona_moral"]
    found = await call_ok(mcp, "lookup_catalog", {"catalog": "motivo-cancelacion", "query": "no se llevo"})
    assert _codes(found) == [("motivo-cancelacion", "03")]
    assert found["data"][0]["requiere_folio_sustitucion"] is False
    found = await call_ok(mcp, "lookup_catalog", {"catalog": "motivo-cancelacion", "code": "01"})
    assert found["data"][0]["requiere_folio_sustitucion"] is True
    assert len(sandbox.state.api_requests()) == before  # answered locally, nothing sent to gigstack


@pytest.mark.anyio
async def test_lookup_by_code_and_whole_catalog(mcp):
    found = await call_ok(mcp, "lookup_catalog", {"code": "ppd"})
    assert _codes(found) == [("metodo-pago", "PPD")] and found["data"][0]["formas_pago_permitidas"] == ["99"]
    found = await call_ok(mcp, "lookup_catalog", {"code": "03"})
    assert ("forma-pago", "03") in _codes(found) and ("impuesto", "003") not in _codes(found)
    whole = await call_ok(mcp, "lookup_catalog", {"catalog": "uso-cfdi"})
    assert whole["total_results"] == 24 and not whole["has_more"] and len(whole["data"]) == 24
    morales = await call_ok(mcp, "lookup_catalog", {"catalog": "regimen-fiscal", "persona": "moral"})
    assert {c for _, c in _codes(morales)} == {c for c, (m, _) in REGIMES.items() if "M" in m}


@pytest.mark.anyio
async def test_lookup_usos_for_every_regimen(mcp):
    for regimen, (_, usos) in sorted(REGIMES.items()):
        found = await call_ok(mcp, "lookup_catalog", {"regimen": regimen})
        assert [c for _, c in _codes(found)] == usos, regimen
        assert all(e["catalog"] == "uso-cfdi" and e["description"] for e in found["data"])
        assert regimen in found["note"]


@pytest.mark.anyio
async def test_lookup_regimen_612_with_persona_and_words(mcp):
    found = await call_ok(mcp, "lookup_catalog", {"regimen": "612", "persona": "fisica"})
    assert [c for _, c in _codes(found)] == G + I + D + ["S01", "CP01"]
    assert "Personas Físicas con Actividades Empresariales" in found["note"]
    found = await call_ok(mcp, "lookup_catalog", {"regimen": "612", "query": "colegiaturas"})
    assert _codes(found) == [("uso-cfdi", "D10")]
    text = await call_err(mcp, "lookup_catalog", {"regimen": "601", "persona": "fisica"})
    assert "only for persona moral" in text
    text = await call_err(mcp, "lookup_catalog", {"regimen": "612", "catalog": "forma-pago"})
    assert "uso-cfdi" in text


@pytest.mark.anyio
async def test_lookup_refuses_codes_not_valid_in_4_0(mcp):
    text = await call_err(mcp, "lookup_catalog", {"code": "P01", "catalog": "uso-cfdi"})
    assert "P01" in text and "3.3" in text
    assert await call_err(mcp, "lookup_catalog", {"query": "por definir", "catalog": "uso-cfdi"})
    text = await call_err(mcp, "lookup_catalog", {"code": "609", "catalog": "regimen-fiscal"})
    assert "609" in text and "3.3" in text
    text = await call_err(mcp, "lookup_catalog", {"regimen": "609"})
    assert "not valid in CFDI 4.0" in text and "catalog=regimen-fiscal" in text


@pytest.mark.anyio
async def test_lookup_errors_say_what_to_try(mcp):
    text = await call_err(mcp, "lookup_catalog", {})
    assert "`query`" in text and "uso-cfdi" in text
    text = await call_err(mcp, "lookup_catalog", {"query": "xyzzy"})
    assert "Try fewer or other words" in text and "nothing was sent to gigstack" in text
    text = await call_err(mcp, "lookup_catalog", {"catalog": "nope"})
    assert "catalog" in text


@pytest.mark.anyio
async def test_lookup_is_capped_and_says_so(mcp):
    found = await call_ok(mcp, "lookup_catalog", {"query": "de"})
    assert found["total_results"] > 30 and len(found["data"]) == 30 and found["has_more"]
    assert "first 30" in found["note"]
    result = await mcp.call_tool("lookup_catalog", {"query": "de"})
    assert "first 30" in result.content[0].text


# -- cross-check against satcfdi (test-only dependency; port of shared/cfdi/crosscheck_satcfdi.py) ------

SATCFDI_TABLES = {
    "uso-cfdi": "C756_c_UsoCFDI",
    "regimen-fiscal": "C756_c_RegimenFiscal",
    "forma-pago": "C756_c_FormaPago",
    "metodo-pago": "C756_c_MetodoPago",
    "periodicidad": "C756_c_Periodicidad",
    "meses": "C756_c_Meses",
    "tipo-relacion": "C756_c_TipoRelacion",
    "objeto-imp": "C756_c_ObjetoImp",
    "impuesto": "C756_c_Impuesto",
    "exportacion": "C756_c_Exportacion",
    "tipo-comprobante": "C756_c_TipoDeComprobante",
}
# codes satcfdi keeps from CFDI 3.2/3.3/Retenciones that CFDI 4.0 rejects
KNOWN_LEGACY = {
    "uso-cfdi": {"P01"},
    "regimen-fiscal": {"609", "628", "629", "630"},
    "forma-pago": {"07", "09", "10", "11", "16", "98"},
    "tipo-relacion": {"08", "09"},
}


def _norm(text: str) -> str:
    return " ".join(str(text).strip().rstrip(".").split()).casefold()


@pytest.mark.parametrize("slug", sorted(SATCFDI_TABLES))
def test_matches_satcfdi(slug):
    satcfdi = pytest.importorskip("satcfdi.catalogs")
    ours = {r["code"]: r["description"] for r in cat.rows(slug)}
    theirs = satcfdi.select_all(SATCFDI_TABLES[slug])
    assert sorted(set(ours) - set(theirs)) == []  # every 4.0 code exists in satcfdi
    differ = {c: (ours[c], theirs[c]) for c in ours if _norm(ours[c]) != _norm(theirs[c])}
    assert differ == {}
    # the extras are exactly the known legacy codes: a new one means SAT added a code -> refresh the data
    assert set(theirs) - set(ours) == KNOWN_LEGACY.get(slug, set())
    assert set(cat.LEGACY.get(slug, {})) == KNOWN_LEGACY.get(slug, set())


@pytest.mark.anyio
async def test_lookup_catalog_starts_no_gigstack_client(tmp_path):
    """Catalog look-ups are local: with no key, a look-up must not even start the embedded sandbox
    (which would create its --sandbox-db file)."""
    from mcp import Client

    from gigstack_mcp.server import build_server
    from gigstack_mcp.settings import Settings

    db = tmp_path / "sandbox.db"
    async with Client(build_server(Settings(sandbox=True, sandbox_db=str(db)))) as client:
        result = await client.call_tool("lookup_catalog", {"query": "transferencia"})
        assert not result.is_error
        assert any(row["code"] == "03" for row in result.structured_content["data"])
        assert not db.exists()
        await client.call_tool("list_clients", {"limit": 1})  # a gigstack tool does start it
        assert db.exists()
