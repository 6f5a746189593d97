"""The SAT catalogs as MCP resources: `catalog://<slug>` (the whole catalog) and the template
`catalog://<slug>/{code}` (one entry). Nothing is read until a client reads a resource.

The large catalogs (c_ClaveProdServ, c_ClaveUnidad) are never sent whole: `catalog://<slug>` is their
first page, and the template `catalog://<slug>/search{?q,page}` searches (ranked, like lookup_catalog)
or, without `q`, pages through them in code order."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from . import CATALOGS, LARGE, VERSION, entry, find, load, row_at, rows, table

MIME = "application/json"
PAGE = 50  # rows per page of a large catalog
MAX_SEARCH_PAGES = 10  # a search pages through its best 500 rows; narrow the words for more

DESCRIPTIONS = {
    "regimen-fiscal": "Regímenes fiscales valid in CFDI 4.0, with whether each applies to persona física/moral.",
    "uso-cfdi": "Usos CFDI with persona física/moral and the receptor regímenes each allows (CFDI40161).",
    "forma-pago": "Formas de pago (01 efectivo, 03 transferencia, 99 por definir…), bancarizado flags.",
    "metodo-pago": "PUE / PPD and the formas de pago each allows (PPD only with 99).",
    "tipo-comprobante": "I ingreso, E egreso, T traslado, N nómina, P pago.",
    "exportacion": "Clave de exportación; 01 for domestic invoices.",
    "objeto-imp": "ObjetoImp per concepto and whether its Impuestos node is required or forbidden.",
    "impuesto": "001 ISR, 002 IVA, 003 IEPS, with traslado/retención.",
    "tasa-o-cuota": "Valid TasaOCuota values/ranges per impuesto, factor and traslado/retención "
    "(code = impuesto-factor-valor, synthetic).",
    "tipo-relacion": "CfdiRelacionados TipoRelacion 01-07 and which comprobante types each fits.",
    "motivo-cancelacion": "Cancellation motives 01-04; 01 needs the substitute invoice's UUID.",
    "periodicidad": "Factura global periodicidad and the meses each allows (05 bimestral: régimen 621).",
    "meses": "Factura global months 01-12 and two-month periods 13-18.",
    "clave-prod-serv": "ClaveProdServ of each concepto (~52,500 codes): the first page; search with "
    "catalog://clave-prod-serv/search?q=<words>.",
    "clave-unidad": "ClaveUnidad of each concepto (E48 servicio, H87 pieza, ACT actividad…): the first page; "
    "search with catalog://clave-unidad/search?q=<words>.",
    "moneda": "Currencies (ISO 4217) with the decimals each allows in amounts (MXN 2, JPY 0).",
    "pais": "Countries (ISO 3166 alpha-3) with the postal-code and tax-id patterns SAT validates.",
}


def _page(slug: str, q: str, page: int) -> dict[str, Any]:
    """One page of a large catalog: ranked matches of `q`, or every row in code order."""
    start = (page - 1) * PAGE
    if q:
        found = find(q, [slug], limit=page * PAGE)
        picked, total = found.rows[start:], min(found.total, MAX_SEARCH_PAGES * PAGE)
    else:
        total = len(table(CATALOGS[slug].file).rows)
        picked = [row_at(slug, i) for i in range(start, min(start + PAGE, total))]
    more = start + PAGE < total
    query = f"q={quote(q)}&" if q else ""
    return {
        "query": q or None,
        "partial": bool(q) and found.partial,
        "page": page,
        "total_rows": total,
        "next": f"catalog://{slug}/search?{query}page={page + 1}" if more else None,
        "rows": [{k: v for k, v in r.items() if k != "catalog"} for r in picked],
    }


def catalog_document(slug: str) -> dict[str, Any]:
    """What `catalog://<slug>` returns (the first page, for a large catalog)."""
    if slug in LARGE:
        meta = table(CATALOGS[slug].file).meta
        return {
            "catalog": slug,
            "sat_catalog": meta["catalog"],
            "title": CATALOGS[slug].title,
            "cfdi_version": "4.0",
            "source": meta["source"],
            "search": f"catalog://{slug}/search?q=<words>&page=<n> (ranked; accents and case ignored)",
            **_page(slug, "", 1),
        }
    meta = load(CATALOGS[slug].file)
    return {
        "catalog": slug,
        "sat_catalog": meta.get("catalog", CATALOGS[slug].sat),
        "title": CATALOGS[slug].title,
        "cfdi_version": meta.get("cfdi_version", "4.0"),
        "version": VERSION if slug not in ("moneda", "pais") else meta.get("source"),
        "source": meta.get("source"),
        "notes": meta.get("notes"),
        "vigencia": "Every row is in force (vigencia_hasta null); vigencia_desde is when it started.",
        "rows": [{k: v for k, v in r.items() if k != "catalog"} for r in rows(slug)],
    }


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _add(server: MCPServer, slug: str) -> None:
    info = CATALOGS[slug]

    async def whole() -> str:
        return _dump(catalog_document(slug))

    async def one(code: str) -> str:
        found = entry(slug, code)
        if found is None:
            raise ResourceNotFoundError(
                f"{code!r} is not a CFDI 4.0 {info.title} code ({info.sat}); read catalog://{slug} "
                "for the valid codes"
            )
        return _dump(found)

    async def search(q: str = "", page: str = "1") -> str:
        if not page.isdigit() or int(page) < 1 or (q and int(page) > MAX_SEARCH_PAGES):
            limit = f"1 to {MAX_SEARCH_PAGES} for a search" if q else "1 or more"
            raise ResourceNotFoundError(f"page {page!r} is not valid: {limit}")
        return _dump(_page(slug, q, int(page)))

    search.__name__ = search.__qualname__ = f"catalog_{slug.replace('-', '_')}_search"
    whole.__name__ = whole.__qualname__ = f"catalog_{slug.replace('-', '_')}"
    one.__name__ = one.__qualname__ = f"catalog_{slug.replace('-', '_')}_entry"
    server.resource(
        f"catalog://{slug}",
        name=f"catalog-{slug}",
        title=f"{info.title} ({info.sat})",
        description=DESCRIPTIONS[slug],
        mime_type=MIME,
    )(whole)
    if slug in LARGE:  # before {code}, which would take "search" for a code
        server.resource(
            f"catalog://{slug}/search{{?q,page}}",
            name=f"catalog-{slug}-search",
            title=f"{info.title}: search",
            description=f"{info.sat} rows best matching the words `q`, {PAGE} a page; without `q`, "
            "every row in code order.",
            mime_type=MIME,
        )(search)
    server.resource(
        f"catalog://{slug}/{{code}}",
        name=f"catalog-{slug}-entry",
        title=f"{info.title}: one entry",
        description=f"One {info.sat} entry by code.",
        mime_type=MIME,
    )(one)


def register(server: MCPServer, settings: Any = None) -> None:
    """Add every catalog as a resource and a resource template."""
    for slug in CATALOGS:
        _add(server, slug)
