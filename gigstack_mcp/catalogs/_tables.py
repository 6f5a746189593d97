"""The catalogs' data: the tables, rows, codes and look-ups of catalogs/__init__.py (which adds the
ranked search of _search.py on top; _search.py reads the tables from here, not from the package)."""

from __future__ import annotations

import json
import unicodedata
from array import array
from bisect import bisect_left
from functools import cache
from importlib.resources import files
from typing import Any, Literal, NamedTuple

Persona = Literal["fisica", "moral"]

VERSION = (
    "SAT catCFDI_V_4 (CFDI 4.0) as of phpcfdi/resources-sat-catalogs @675be01 (2026-08-06); "
    "cancellation motives from the SAT cancellation service (satcfdi 26.10.1)."
)


class Catalog(NamedTuple):
    file: str  # data/<file>.json
    title: str
    sat: str  # SAT catalog name


CATALOGS: dict[str, Catalog] = {
    "regimen-fiscal": Catalog("regimen_fiscal", "Régimen fiscal", "c_RegimenFiscal"),
    "uso-cfdi": Catalog("uso_cfdi", "Uso del CFDI", "c_UsoCFDI"),
    "forma-pago": Catalog("forma_pago", "Forma de pago", "c_FormaPago"),
    "metodo-pago": Catalog("metodo_pago", "Método de pago", "c_MetodoPago"),
    "tipo-comprobante": Catalog("tipo_comprobante", "Tipo de comprobante", "c_TipoDeComprobante"),
    "exportacion": Catalog("exportacion", "Exportación", "c_Exportacion"),
    "objeto-imp": Catalog("objeto_imp", "Objeto de impuesto", "c_ObjetoImp"),
    "impuesto": Catalog("impuesto", "Impuesto", "c_Impuesto"),
    "tasa-o-cuota": Catalog("tasa_o_cuota", "Tasa o cuota", "c_TasaOCuota"),
    "tipo-relacion": Catalog("tipo_relacion", "Tipo de relación", "c_TipoRelacion"),
    "motivo-cancelacion": Catalog("motivo_cancelacion", "Motivo de cancelación", "Motivo"),
    "periodicidad": Catalog("periodicidad", "Periodicidad (factura global)", "c_Periodicidad"),
    "meses": Catalog("meses", "Meses (factura global)", "c_Meses"),
    "clave-prod-serv": Catalog("clave_prod_serv", "Clave de producto o servicio", "c_ClaveProdServ"),
    "clave-unidad": Catalog("clave_unidad", "Clave de unidad", "c_ClaveUnidad"),
    "moneda": Catalog("moneda", "Moneda", "c_Moneda"),
    "pais": Catalog("pais", "País", "c_Pais"),
}
# Too large to send whole: resources page them, the tool lists only the first rows.
LARGE = frozenset({"clave-prod-serv", "clave-unidad"})
# The catalogs stored as data/<file>.tsv.gz (scripts/build_catalogs.py); the others are JSON.
_TABLES = frozenset({"clave_prod_serv", "clave_unidad", "moneda", "pais"})
# c_ClaveProdServ's "Palabras similares": searched, but shown only with one entry or when a search found
# the row through them (up to ~500 characters: listings stay compact)
SIMILAR_COLUMN = "palabras_similares"


# Codes that CFDI 3.3 (or satcfdi's merged tables) have but CFDI 4.0 rejects: a model may "remember" them.
LEGACY: dict[str, dict[str, str]] = {
    "uso-cfdi": {"P01": "Por definir was CFDI 3.3 only (ended 2023-06-30): use the real uso, or S01"},
    "regimen-fiscal": {c: "only in the CFDI 3.3/retenciones catalogs" for c in ("609", "628", "629", "630")},
    "forma-pago": {c: "legacy code, not in c_FormaPago 4.0" for c in ("07", "09", "10", "11", "16", "98")},
    "tipo-relacion": {c: "CFDI 3.3 only (ended 2022-06-30)" for c in ("08", "09")},
}


class Table(NamedTuple):
    meta: dict[str, Any]  # {catalog, source, columns, int_columns, rows}
    rows: tuple[tuple[Any, ...], ...]  # in `columns` order, sorted by code; "" for an empty SAT cell


@cache
def table(name: str) -> Table:
    """A `data/<name>.tsv.gz` snapshot: the metadata line and the rows as tuples."""
    import csv  # here, not at the top: start-up does not pay for what only a first search needs
    import gzip
    import io

    raw = files(__package__).joinpath(f"data/{name}.tsv.gz").read_bytes()
    text = io.StringIO(gzip.decompress(raw).decode("utf-8"))
    meta = json.loads(text.readline()[1:])
    ints = [meta["columns"].index(c) for c in meta.get("int_columns", ())]
    found = []
    for row in csv.reader(text, delimiter="\t"):
        for i in ints:
            row[i] = int(row[i])
        found.append(tuple(row))
    return Table(meta, tuple(found))


def _as_dict(columns: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    return {c: v for c, v in zip(columns, row, strict=True) if v != ""}


@cache
def load(name: str) -> dict[str, Any]:
    """The raw catalog file `data/<name>.json` or `.tsv.gz` ({catalog, source, rows, ...})."""
    path = files(__package__).joinpath(f"data/{name}.json")
    if path.is_file():
        return json.loads(path.read_text("utf-8"))
    meta, found = table(name)
    return {**meta, "rows": [_as_dict(meta["columns"], r) for r in found]}


@cache
def codes(name: str) -> frozenset[str]:
    """Every code of a catalog, by file name (`moneda`, `pais`, `uso_cfdi`…) or slug (`clave-unidad`)."""
    name = CATALOGS[name].file if name in CATALOGS else name
    if name in _TABLES:
        return frozenset(r[0] for r in table(name).rows)
    return frozenset(row["code"] for row in load(name)["rows"])


def _catalog(slug: str) -> Catalog:
    try:
        return CATALOGS[slug]
    except KeyError:
        raise KeyError(f"unknown catalog {slug!r}; valid: {', '.join(CATALOGS)}") from None


def _tasa(row: dict[str, Any]) -> dict[str, Any]:
    """c_TasaOCuota has no code: `<impuesto_code>-<factor>-<valor>` (Rango: `-<min>-<max>`)."""
    fijo = row["tipo"] == "Fijo"
    value = row["valor_maximo"] if fijo else f"{row['valor_minimo']}-{row['valor_maximo']}"
    kinds = " y ".join(k for k, on in (("traslado", row["traslado"]), ("retención", row["retencion"])) if on)
    span = row["valor_maximo"] if fijo else f"de {row['valor_minimo']} a {row['valor_maximo']}"
    return {
        "code": f"{row['impuesto_code']}-{row['factor']}-{value}",
        "description": f"{row['impuesto']} {kinds}, {row['factor']} {span}",
        **row,
    }


@cache
def rows(slug: str) -> tuple[dict[str, Any], ...]:
    """Every row of a catalog, each with `catalog` (the slug), `code` and `description`. Do not mutate.
    (For c_ClaveProdServ that is 52,000 dicts, ~15 MB: prefer `find`, `entry` or `table`.)"""
    raw = load(_catalog(slug).file)["rows"]
    fix = _tasa if slug == "tasa-o-cuota" else dict
    return tuple({**fix(r), "catalog": slug} for r in raw)


@cache
def _index(slug: str) -> dict[str, dict[str, Any]]:
    return {r["code"].casefold(): r for r in rows(slug)}


def entry(slug: str, code: str) -> dict[str, Any] | None:
    """The row with this code (case-insensitive; `3` finds forma de pago `03`), or None."""
    key = str(code).strip().casefold()
    if _catalog(slug).file not in _TABLES:
        index = _index(slug)
        found = index.get(key)
        if found is None and key.isdigit() and not key.startswith("0"):  # JSON catalogs only: `3` -> `03`
            found = index.get(key.zfill(2)) or index.get(key.zfill(3))
        return dict(found) if found else None
    keys, positions = code_keys(slug)
    at = bisect_left(keys, key)
    return row_at(slug, positions[at], similar=True) if at < len(keys) and keys[at] == key else None


@cache
def code_keys(slug: str) -> tuple[list[str], array]:
    """A catalog's casefolded codes, sorted, and the row number of each: a bisect finds a code or every
    code with a prefix without a 52,000-entry dict (~5 MB)."""
    name = _catalog(slug).file
    codes = [r[0] for r in table(name).rows] if name in _TABLES else [r["code"] for r in rows(slug)]
    keyed = sorted((c if c.isdigit() else c.casefold(), i) for i, c in enumerate(codes))
    return [k for k, _ in keyed], array("I", (i for _, i in keyed))


def row_at(slug: str, position: int, similar: bool = False) -> dict[str, Any]:
    """Row number `position` of a catalog as a dict (with `catalog`; `palabras_similares` if `similar`)."""
    name = _catalog(slug).file
    if name not in _TABLES:
        return dict(rows(slug)[position])
    meta, found = table(name)
    row = _as_dict(meta["columns"], found[position])
    if not similar:
        row.pop(SIMILAR_COLUMN, None)
    return {**row, "catalog": slug}


def fold(text: str) -> str:
    """Lower case without accents: `Régimen` -> `regimen`."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def applies(row: dict[str, Any], persona: Persona | None) -> bool:
    """Whether a régimen or uso row applies to that persona (rows without the columns: always)."""
    if persona is None:
        return True
    for column in (persona, f"persona_{persona}"):
        if column in row:
            return bool(row[column])
    return True


def usos_for_regimen(regimen: str, persona: Persona | None = None) -> list[dict[str, Any]]:
    """The usos CFDI a receptor with this régimen fiscal (and persona, if given) may use (CFDI40161)."""
    regimen = str(regimen).strip()
    return [dict(r) for r in rows("uso-cfdi") if regimen in r["regimenes_receptor"] and applies(r, persona)]


def persona_from_rfc(rfc: str) -> Persona | None:
    """`fisica` for a 13-character RFC, `moral` for 12, None otherwise (generic RFCs count as física)."""
    size = len(str(rfc).strip())
    return "fisica" if size == 13 else "moral" if size == 12 else None


def tasas(impuesto_code: str, factor: str, retencion: bool = False) -> list[dict[str, Any]]:
    """The c_TasaOCuota rows for an impuesto (001/002/003), factor (Tasa/Cuota) and traslado/retención."""
    side = "retencion" if retencion else "traslado"
    return [
        dict(r)
        for r in rows("tasa-o-cuota")
        if r["impuesto_code"] == impuesto_code and r["factor"] == factor and r[side]
    ]


def tasa_allowed(impuesto_code: str, factor: str, value: str | float, retencion: bool = False) -> bool:
    """Whether TasaOCuota `value` is valid (Fijo: equal at 6 decimals; Rango: within min..max)."""
    v = round(float(value), 6)
    for r in tasas(impuesto_code, factor, retencion):
        top = round(float(r["valor_maximo"]), 6)
        if r["tipo"] == "Fijo" and v == top:
            return True
        if r["tipo"] == "Rango" and round(float(r["valor_minimo"]), 6) <= v <= top:
            return True
    return False
