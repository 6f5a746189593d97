"""c_ClaveProdServ, c_ClaveUnidad, c_Moneda and c_Pais: ranked search through the real server's
lookup_catalog tool and catalog:// resources, the common names of synonyms.toml, lazy loading, and a
cross-check of the snapshots against the `satcfdi` package."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from mcp import MCPError

from gigstack_mcp import catalogs as cat

from .conftest import call_err, call_ok

DESIGN = {"82141500", "82141502", "82141504"}  # servicios de diseño artístico / gráficos


def _codes(result: dict) -> list[tuple[str, str]]:
    return [(e["catalog"], e["code"]) for e in result["data"]]


# -- the lookup_catalog tool -----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("query", ["diseño de logotipo", "DISENO logotipo", "Diseño de LOGO"])
async def test_logo_design_finds_a_design_code(mcp, sandbox, query):
    before = len(sandbox.state.api_requests())
    found = await call_ok(mcp, "lookup_catalog", {"query": query, "catalog": "clave-prod-serv", "limit": 5})
    assert {c for _, c in _codes(found)[:3]} <= DESIGN and len(found["data"]) == 3
    assert all("dise" in e["description"].lower() for e in found["data"])
    assert not found.get("note")  # every word matched: not a partial result
    # the same without naming the catalog: products still come first, nothing else has both words
    anywhere = await call_ok(mcp, "lookup_catalog", {"query": query})
    assert _codes(anywhere)[0][1] in DESIGN
    assert len(sandbox.state.api_requests()) == before  # answered locally


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("RESICO", ("regimen-fiscal", "626")),
        ("resico", ("regimen-fiscal", "626")),
        ("honorarios", ("regimen-fiscal", "612")),
        ("arrendamiento", ("regimen-fiscal", "606")),
        ("dólar", ("moneda", "USD")),
        ("dolares", ("moneda", "USD")),
        ("Estados Unidos", ("pais", "USA")),
        ("EUA", ("pais", "USA")),
        ("spei", ("forma-pago", "03")),
        ("pieza", ("clave-unidad", "H87")),
        ("servicio", ("clave-unidad", "E48")),
        ("E48", ("clave-unidad", "E48")),
        ("84111505", ("clave-prod-serv", "84111505")),
    ],
)
async def test_common_names_rank_first(mcp, query, first):
    found = await call_ok(mcp, "lookup_catalog", {"query": query, "limit": 5})
    assert _codes(found)[0] == first
    assert len(found["data"]) <= 5


@pytest.mark.anyio
async def test_honorarios_lists_professional_service_codes(mcp):
    found = await call_ok(mcp, "lookup_catalog", {"query": "honorarios", "catalog": "clave-prod-serv"})
    codes = [c for _, c in _codes(found)]
    assert {"80101500", "84111500", "80121600"} <= set(codes[:8])  # consultoría, contables, legales


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("desarrollo de software", "81111500"),
        ("consultoría", "80101500"),
        ("renta de oficina", "80131500"),
        ("contabilidad", "84111500"),
        ("pagina web", "81112103"),
        ("mantenimiento de computadoras", "81111812"),
    ],
)
async def test_everyday_services(mcp, query, expected):
    found = await call_ok(mcp, "lookup_catalog", {"query": query, "catalog": "clave-prod-serv", "limit": 3})
    assert expected in [c for _, c in _codes(found)]


@pytest.mark.anyio
async def test_code_lookups(mcp):
    found = await call_ok(mcp, "lookup_catalog", {"code": "E48"})
    assert _codes(found) == [("clave-unidad", "E48")]
    assert (
        found["data"][0]["description"] == "Unidad de servicio" and "servicio" in found["data"][0]["detalle"]
    )
    found = await call_ok(mcp, "lookup_catalog", {"code": "usd", "catalog": "moneda"})
    assert found["data"][0]["code"] == "USD" and found["data"][0]["decimales"] == 2
    assert found["data"][0]["description"] == "Dólar americano"
    jpy = await call_ok(mcp, "lookup_catalog", {"code": "JPY", "catalog": "moneda"})
    assert jpy["data"][0]["decimales"] == 0
    mex = (await call_ok(mcp, "lookup_catalog", {"code": "MEX", "catalog": "pais"}))["data"][0]
    assert mex["description"] == "México" and mex["agrupaciones"] == "TLCAN"
    assert re.fullmatch(mex["patron_identidad_tributaria"], "GORL850315K29")
    assert not re.fullmatch(mex["patron_identidad_tributaria"], "GORL850315K2\n")  # the SAT sheet's stray \n
    usa = (await call_ok(mcp, "lookup_catalog", {"code": "USA", "catalog": "pais"}))["data"][0]
    assert usa["description"] == "Estados Unidos (los)" and re.fullmatch(usa["patron_codigo_postal"], "94105")
    found = await call_ok(mcp, "lookup_catalog", {"code": "01010101"})
    assert found["data"][0]["description"] == "No existe en el catálogo"
    text = await call_err(mcp, "lookup_catalog", {"code": "DLS", "catalog": "moneda"})
    assert "DLS" in text and "query" in text


@pytest.mark.anyio
async def test_large_catalog_listing_is_bounded(mcp):
    found = await call_ok(mcp, "lookup_catalog", {"catalog": "clave-prod-serv", "limit": 5})
    assert len(found["data"]) == 5 and found["has_more"] and found["total_results"] == 52514
    assert "query" in found["note"] and "first 5 of 52514" in found["note"]
    found = await call_ok(mcp, "lookup_catalog", {"catalog": "moneda"})
    assert found["total_results"] == 183 and len(found["data"]) == 30
    text = await call_err(mcp, "lookup_catalog", {"query": "servicio", "limit": 31})
    assert "limit" in text and "31" in text


@pytest.mark.anyio
async def test_partial_matches_say_so(mcp):
    found = await call_ok(mcp, "lookup_catalog", {"query": "venta de ropa", "limit": 5})
    assert "some of them" in found["note"] and found["data"]
    assert all(
        "ropa" in e["description"].lower() or "venta" in e["description"].lower() for e in found["data"]
    )
    text = await call_err(mcp, "lookup_catalog", {"query": "xyzzy plugh", "catalog": "clave-prod-serv"})
    assert "Try fewer or other words" in text


# -- resources ---------------------------------------------------------------------------------------------


async def _read(mcp, uri: str) -> dict:
    return json.loads((await mcp.read_resource(uri)).contents[0].text)


@pytest.mark.anyio
async def test_large_catalog_resource_is_a_page_not_52000_rows(mcp):
    doc = await _read(mcp, "catalog://clave-prod-serv")
    assert doc["sat_catalog"] == "c_ClaveProdServ" and doc["total_rows"] == 52514
    assert len(doc["rows"]) == 50 and doc["rows"][0] == {
        "code": "01010101",
        "description": "No existe en el catálogo",
    }
    assert doc["next"] == "catalog://clave-prod-serv/search?page=2" and "satcfdi" in doc["source"]
    page2 = await _read(mcp, doc["next"])
    assert page2["page"] == 2 and page2["rows"][0]["code"] > doc["rows"][-1]["code"]
    unit = await _read(mcp, "catalog://clave-unidad/E48")
    assert unit["description"] == "Unidad de servicio"


@pytest.mark.anyio
async def test_search_resource_ranks_and_pages(mcp):
    doc = await _read(mcp, "catalog://clave-prod-serv/search?q=dise%C3%B1o%20logotipo")
    assert {r["code"] for r in doc["rows"]} == DESIGN and doc["next"] is None
    doc = await _read(mcp, "catalog://clave-prod-serv/search?q=servicio")
    assert doc["total_rows"] == 500 and doc["next"] == "catalog://clave-prod-serv/search?q=servicio&page=2"
    last = await _read(mcp, "catalog://clave-prod-serv/search?q=servicio&page=10")
    assert last["next"] is None and len(last["rows"]) == 50
    with pytest.raises(MCPError) as err:
        await mcp.read_resource("catalog://clave-prod-serv/search?q=servicio&page=11")
    assert "page" in err.value.error.message
    units = await _read(mcp, "catalog://clave-unidad/search?q=pieza")
    assert units["rows"][0]["code"] == "H87"


@pytest.mark.anyio
async def test_small_new_catalogs_are_whole_resources(mcp):
    moneda = await _read(mcp, "catalog://moneda")
    assert len(moneda["rows"]) == 183
    assert {
        "code": "MXN",
        "description": "Peso Mexicano",
        "decimales": 2,
        "porcentaje_variacion": 5,  # the raw SAT cell, as phpcfdi stores it
    } in moneda["rows"]
    pais = await _read(mcp, "catalog://pais")
    assert len(pais["rows"]) == 250 and "phpcfdi" in pais["source"]


# -- Python API for later validation (guards) -----------------------------------------------------------


def test_codes_accessor_for_validation():
    assert "USD" in cat.codes("moneda") and "DLS" not in cat.codes("moneda")
    assert {"MEX", "USA", "CAN"} <= cat.codes("pais") and "MX" not in cat.codes("pais")
    assert {"E48", "H87", "ACT"} <= cat.codes("clave-unidad")
    assert len(cat.codes("clave-prod-serv")) == 52514
    assert cat.entry("moneda", "mxn")["decimales"] == 2
    assert cat.entry("clave-unidad", "5") is None  # zero-padding is only for the small CFDI catalogs
    assert cat.entry("clave-unidad", "OHM")["code"] == "Ohm"  # case-insensitive; SAT's spelling comes back


def test_every_synonym_points_at_a_real_code():
    from gigstack_mcp.catalogs._search import synonyms

    for slug, targets in synonyms().items():
        assert slug in cat.CATALOGS
        for code, words in targets.items():
            assert cat.entry(slug, code) is not None, (slug, code)
            assert words


def test_nothing_is_loaded_until_first_search():
    code = (
        "from gigstack_mcp.server import build_server\n"
        "from gigstack_mcp.settings import Settings\n"
        "from gigstack_mcp import catalogs\n"
        "import sys\n"
        "build_server(Settings(api_key='k', toolsets='all'))\n"
        "assert catalogs.table.cache_info().currsize == 0\n"
        "assert 'gigstack_mcp.catalogs._search' not in sys.modules\n"
        "catalogs.find('pieza', ['clave-unidad'])\n"
        "assert catalogs.table.cache_info().currsize == 1, catalogs.table.cache_info()\n"
    )
    env = {**os.environ, "GIGSTACK_TOOL_CACHE": "off"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


# -- cross-check against satcfdi (test-only dependency) ---------------------------------------------------

SATCFDI = {
    "clave-prod-serv": "C756_c_ClaveProdServ",
    "clave-unidad": "C756_c_ClaveUnidad",
    "moneda": "C756_c_Moneda",
    "pais": "C756_c_Pais",
}
# satcfdi keeps DX, an older spelling of Dx ("Dina por centímetro"), which the CFDI 4.0 c_ClaveUnidad
# (phpcfdi) spells only as Dx
SATCFDI_ONLY = {"clave-unidad": {"DX"}}


def _norm(text: str) -> str:
    return " ".join(str(text).split()).rstrip(".").casefold()


@pytest.mark.parametrize("slug", sorted(SATCFDI))
def test_matches_satcfdi(slug):
    satcfdi = pytest.importorskip("satcfdi.catalogs")
    theirs = satcfdi.select_all(SATCFDI[slug])
    ours = {r[0]: r[1] for r in cat.table(cat.CATALOGS[slug].file).rows}
    assert len(ours) + len(SATCFDI_ONLY.get(slug, ())) == len(theirs)
    assert set(theirs) - set(ours) == SATCFDI_ONLY.get(slug, set())
    names = {c: v[0] if isinstance(v, list) else v for c, v in theirs.items()}
    assert {c: (n, names[c]) for c, n in ours.items() if _norm(n) != _norm(names[c])} == {}
    if slug == "moneda":
        assert {c: cat.entry("moneda", c)["decimales"] for c in ours} == {c: v[1] for c, v in theirs.items()}


def test_prod_serv_spot_checks():
    expected = {
        "01010101": "No existe en el catálogo",
        "84111505": "Servicios de contabilidad de sueldos y salarios",
        "80131502": "Arrendamiento de instalaciones comerciales o industriales",
        "82141504": "Servicios de diseño de gráficos o gráficas",
        "80141503": "Previsión de precios de las mercancías",
    }
    assert {c: cat.entry("clave-prod-serv", c)["description"] for c in expected} == expected
    assert {c: cat.entry("clave-unidad", c)["description"] for c in ("E48", "H87", "ACT")} == {
        "E48": "Unidad de servicio",
        "H87": "Pieza",
        "ACT": "Actividad",
    }


@pytest.mark.anyio
async def test_a_look_up_does_not_hold_the_event_loop(mcp, monkeypatch):
    """The first look-up reads and indexes the large catalogs (~0.5 s); other sessions must keep being
    served meanwhile. `catalogs.find` is replaced by one that waits for the event loop to set a flag:
    run on the event loop it would wait in vain (and fail after 10 s); in a worker thread it goes on.
    (A stand-in because the real first search's duration is not something to assert on.)"""
    import threading

    import anyio

    started, loop_ran = threading.Event(), threading.Event()
    real_find = cat.find

    def waiting_find(*args, **kwargs):
        started.set()
        assert loop_ran.wait(timeout=10), "lookup_catalog ran on the event loop"
        return real_find(*args, **kwargs)

    monkeypatch.setattr(cat, "find", waiting_find)

    async def mark_loop_alive() -> None:  # runs only if the loop is free while find is running
        await anyio.to_thread.run_sync(started.wait, 10)
        loop_ran.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(mark_loop_alive)
        found = await call_ok(
            mcp, "lookup_catalog", {"query": "pieza", "catalog": "clave-unidad", "limit": 1}
        )
    assert _codes(found) == [("clave-unidad", "H87")]


@pytest.mark.anyio
async def test_bad_product_key_error_gives_a_real_example(mcp):
    """The argument error for product_key names an example code; it used to be 80141503, which is
    "Previsión de precios de las mercancías", not consultoría."""
    text = await call_err(
        mcp, "create_service", {"description": "Consultoría", "unit_price": 100, "product_key": "801"}
    )
    example = re.search(r"e\.g\. (\d{8}) (\w+)", text)
    assert example and "lookup_catalog" in text, text
    assert example.group(2) == "consultoría"
    assert "consultoría" in cat.entry("clave-prod-serv", example.group(1))["description"].lower()
