"""SAT CFDI 4.0 catalogs shipped as package data (see data/SOURCE.md). Loaded lazily, once.

`load(name)`/`codes(name)` read a data file by its file name; the rest is keyed by the public slug
(`uso-cfdi`, `regimen-fiscal`, …, see CATALOGS) and returns plain dicts (rows as in the data files plus
`catalog` = the slug; c_TasaOCuota rows get a synthetic `code` and `description`)."""

from __future__ import annotations

import json
import re
import unicodedata
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
}


# Codes that CFDI 3.3 (or satcfdi's merged tables) have but CFDI 4.0 rejects: a model may "remember" them.
LEGACY: dict[str, dict[str, str]] = {
    "uso-cfdi": {"P01": "Por definir was CFDI 3.3 only (ended 2023-06-30): use the real uso, or S01"},
    "regimen-fiscal": {c: "only in the CFDI 3.3/retenciones catalogs" for c in ("609", "628", "629", "630")},
    "forma-pago": {c: "legacy code, not in c_FormaPago 4.0" for c in ("07", "09", "10", "11", "16", "98")},
    "tipo-relacion": {c: "CFDI 3.3 only (ended 2022-06-30)" for c in ("08", "09")},
}


@cache
def load(name: str) -> dict[str, Any]:
    """The raw catalog file `data/<name>.json` ({catalog, source, rows, ...})."""
    return json.loads(files(__name__).joinpath(f"data/{name}.json").read_text("utf-8"))


@cache
def codes(name: str) -> frozenset[str]:
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
    """Every row of a catalog, each with `catalog` (the slug), `code` and `description`. Do not mutate."""
    raw = load(_catalog(slug).file)["rows"]
    fix = _tasa if slug == "tasa-o-cuota" else dict
    return tuple({**fix(r), "catalog": slug} for r in raw)


@cache
def _index(slug: str) -> dict[str, dict[str, Any]]:
    return {r["code"].casefold(): r for r in rows(slug)}


def entry(slug: str, code: str) -> dict[str, Any] | None:
    """The row with this code (case-insensitive; `3` finds forma de pago `03`), or None."""
    index, key = _index(slug), str(code).strip().casefold()
    found = index.get(key)
    if found is None and key.isdigit() and not key.startswith("0"):
        found = index.get(key.zfill(2)) or index.get(key.zfill(3))
    return dict(found) if found else None


def fold(text: str) -> str:
    """Lower case without accents: `Régimen` -> `regimen`."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


@cache
def _haystack(slug: str) -> tuple[tuple[dict[str, Any], tuple[str, ...]], ...]:
    return tuple((r, tuple(_words(f"{r['code']} {r['description']}"))) for r in rows(slug))


def search(slug: str | None, text: str) -> list[dict[str, Any]]:
    """Rows whose code or description has every word of `text` (as a word prefix, ignoring accents and
    case), exact code matches first. `slug=None` searches every catalog."""
    wanted = _words(text)
    if not wanted:
        return []
    key = " ".join(wanted)
    exact, other = [], []
    for s in [slug] if slug else list(CATALOGS):
        for row, words in _haystack(s):
            if all(any(w.startswith(q) for w in words) for q in wanted):
                (exact if fold(row["code"]) == key else other).append(dict(row))
    return exact + other


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
