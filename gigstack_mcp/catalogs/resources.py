"""The SAT catalogs as MCP resources: `catalog://<slug>` (the whole catalog) and the template
`catalog://<slug>/{code}` (one entry). Nothing is read until a client reads a resource."""

from __future__ import annotations

import json
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from . import CATALOGS, VERSION, entry, load, rows

MIME = "application/json"

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
}


def catalog_document(slug: str) -> dict[str, Any]:
    """What `catalog://<slug>` returns."""
    meta = load(CATALOGS[slug].file)
    return {
        "catalog": slug,
        "sat_catalog": meta.get("catalog", CATALOGS[slug].sat),
        "title": CATALOGS[slug].title,
        "cfdi_version": meta.get("cfdi_version", "4.0"),
        "version": VERSION,
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

    whole.__name__ = whole.__qualname__ = f"catalog_{slug.replace('-', '_')}"
    one.__name__ = one.__qualname__ = f"catalog_{slug.replace('-', '_')}_entry"
    server.resource(
        f"catalog://{slug}",
        name=f"catalog-{slug}",
        title=f"{info.title} ({info.sat})",
        description=DESCRIPTIONS[slug],
        mime_type=MIME,
    )(whole)
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
