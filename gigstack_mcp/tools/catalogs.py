"""Catalogs toolset: SAT CFDI 4.0 codes looked up locally (nothing is sent to gigstack). The same data
is served as `catalog://` resources; this tool is for clients that never show resources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from pydantic import Field

from .. import catalogs as cat
from ..context import Api
from ..models import Out, Page, ToolParams
from ..models._base import text
from ..registry import GuardViolation, Toolset, refuse

CatalogSlug = Literal[
    "regimen-fiscal",
    "uso-cfdi",
    "forma-pago",
    "metodo-pago",
    "tipo-comprobante",
    "exportacion",
    "objeto-imp",
    "impuesto",
    "tasa-o-cuota",
    "tipo-relacion",
    "motivo-cancelacion",
    "periodicidad",
    "meses",
    "clave-prod-serv",
    "clave-unidad",
    "moneda",
    "pais",
]
MAX_ENTRIES = 30


class LookupCatalogParams(ToolParams):
    catalog: CatalogSlug | None = None
    code: str | None = None  # e.g. G03, 612, PUE
    query_text: str | None = Field(None, alias="query")  # words
    # the receiver's régimen, e.g. 612 (the 3-digit pattern still validates)
    regimen: Annotated[str, Field(pattern=r"^[0-9]{3}$"), text("the receiver's, e.g. 612")] | None = None
    persona: Literal["fisica", "moral"] | None = None  # 13-character RFC: fisica; 12: moral
    limit: Annotated[int, Field(ge=1, le=MAX_ENTRIES)] = MAX_ENTRIES


class CatalogEntry(Out):
    catalog: str
    code: str
    description: str
    persona_fisica: bool | None = None
    persona_moral: bool | None = None
    regimenes_receptor: list[str] | None = None
    formas_pago_permitidas: list[str] | None = None
    bancarizado: bool | None = None
    impuestos_concepto: str | None = None
    traslado: bool | None = None
    retencion: bool | None = None
    tipo: str | None = None
    valor_minimo: str | None = None
    valor_maximo: str | None = None
    comprobante_nuevo: list[str] | None = None
    relacionados: list[str] | None = None
    requiere_folio_sustitucion: bool | None = None
    meses_permitidos: list[str] | None = None
    requiere_regimen_emisor: str | None = None
    bimestral: bool | None = None
    nota: str | None = None
    uso: str | None = None
    detalle: str | None = None  # c_ClaveUnidad: the SAT's definition of the unit
    palabras_similares: str | None = None  # c_ClaveProdServ: SAT's similar words (when they matched)
    simbolo: str | None = None
    decimales: int | None = None  # c_Moneda: decimals allowed in amounts
    porcentaje_variacion: int | None = None
    patron_codigo_postal: str | None = None  # c_Pais: regular expressions the SAT validates with
    patron_identidad_tributaria: str | None = None
    validacion_identidad_tributaria: str | None = None
    agrupaciones: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> CatalogEntry:
        data = dict(row)
        if row["catalog"] == "regimen-fiscal":  # same meaning as uso CFDI's columns, one name
            data["persona_fisica"], data["persona_moral"] = row["fisica"], row["moral"]
        if row["catalog"] == "tipo-comprobante":
            data.pop("valor_maximo", None)  # the SAT's amount cap, not a rate
        return cls.model_validate(data)

    def summary(self) -> str:
        extra = self.model_dump(exclude_none=True, exclude={"catalog", "code", "description"})
        parts = [f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in extra.items()]
        return " | ".join([f"{self.catalog} {self.code}: {self.description}", *parts])


class CatalogMatches(Page[CatalogEntry]):
    pass


catalogs = Toolset(
    "catalogs",
    "SAT CFDI 4.0 catalogs (uso CFDI, régimen, formas de pago, product/unit keys, moneda, país…), offline.",
)


def _fail(
    rule: str, message: str, *, field: str = "", value: Any = None, allowed: str = ""
) -> GuardViolation:
    return refuse(
        rule,
        f"{message} (looked up locally; nothing was sent to gigstack)",
        field=field,
        value=value,
        allowed=allowed,
    )


def _by_code(slugs: list[str], code: str) -> list[dict[str, Any]]:
    found = [row for s in slugs if (row := cat.entry(s, code))]
    if not found:
        legacy = [f"{code} in {s}: {cat.LEGACY[s][code]}" for s in slugs if code in cat.LEGACY.get(s, {})]
        where = slugs[0] if len(slugs) == 1 else "any catalog"
        hint = "; ".join(legacy) or "search by words with `query` instead"
        raise _fail(
            "CATALOG-CODE",
            f"Code {code!r} is not in {where} for CFDI 4.0: {hint}",
            field="code",
            value=code,
            allowed=f"a code of {where}",
        )
    return found


def _for_regimen(p: LookupCatalogParams) -> tuple[list[dict[str, Any]], str]:
    if p.catalog not in (None, "uso-cfdi"):
        raise _fail(
            "CATALOG-REGIMEN",
            "`regimen` lists usos CFDI: omit `catalog` or use catalog=uso-cfdi",
            field="catalog",
            value=p.catalog,
            allowed="uso-cfdi, or none",
        )
    regimen = cat.entry("regimen-fiscal", p.regimen or "")
    if regimen is None:
        why = cat.LEGACY["regimen-fiscal"].get(p.regimen or "", "unknown code")
        raise _fail(
            "CATALOG-REGIMEN",
            f"Régimen {p.regimen} is not valid in CFDI 4.0 ({why}); list them with catalog=regimen-fiscal",
            field="regimen",
            value=p.regimen,
            allowed="a c_RegimenFiscal code of CFDI 4.0",
        )
    if not cat.applies(regimen, p.persona):
        other = "moral" if p.persona == "fisica" else "fisica"
        raise _fail(
            "CATALOG-REGIMEN",
            f"Régimen {regimen['code']} is only for persona {other}: check the RFC and the régimen",
            field="persona",
            value=p.persona,
            allowed=other,
        )
    who = f", persona {p.persona}" if p.persona else ""
    note = f"Usos CFDI allowed for régimen {regimen['code']} {regimen['description']}{who}."
    return cat.usos_for_regimen(regimen["code"], p.persona), note


@catalogs.read("Look up SAT codes")
async def lookup_catalog(api: Api, p: LookupCatalogParams) -> CatalogMatches:
    """SAT codes by `code` or `query` (ranked), a whole `catalog`, or the usos a `regimen` allows
    (product/unit keys too). Don't guess codes."""
    # in a worker thread: the first look-up reads the large catalogs (~0.5 s), which must not stall
    # every other session on the event loop
    return await anyio.to_thread.run_sync(_lookup, p)


def _lookup(p: LookupCatalogParams) -> CatalogMatches:
    if not (p.catalog or p.code or p.query_text or p.regimen):
        raise _fail(
            "CATALOG-QUERY",
            f"Give `catalog`, `code`, `query` or `regimen`. Catalogs: {', '.join(cat.CATALOGS)}",
            allowed="catalog, code, query or regimen",
        )
    slugs = [p.catalog] if p.catalog else list(cat.CATALOGS)
    note, ranked_total = None, 0
    if p.regimen:
        found, note = _for_regimen(p)
        slugs = ["uso-cfdi"]
        if p.code:
            found = [r for r in found if r["code"] in {e["code"] for e in _by_code(slugs, p.code)}]
    elif p.code:
        found = _by_code(slugs, p.code)
    elif p.query_text:
        # persona filters after ranking: then rank everything so the count stays right
        ranked = cat.find(p.query_text, slugs, limit=None if p.persona else p.limit)
        found, ranked_total = ranked.rows, 0 if p.persona else ranked.total
        if ranked.partial:
            note = "No entry has every word of the query; these have some of them, best first."
    elif p.catalog in cat.LARGE:
        found = [cat.row_at(p.catalog, i) for i in range(p.limit)]
        ranked_total = len(cat.table(cat.CATALOGS[p.catalog].file).rows)
        note = f"{cat.CATALOGS[p.catalog].sat} is large: search it with `query` (words of what is sold)."
    else:
        found = [dict(r) for r in cat.rows(slugs[0])]
    if p.query_text and (p.regimen or p.code):
        keep = {(r["catalog"], r["code"]) for s in slugs for r in cat.search(s, p.query_text)}
        found = [r for r in found if (r["catalog"], r["code"]) in keep]
    found = [r for r in found if cat.applies(r, p.persona)]
    if not found:
        given = p.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
        asked = ", ".join(f"{k}={v}" for k, v in given.items())
        raise _fail(
            "CATALOG-NO-MATCH",
            f"Nothing matches {asked}. Try fewer or other words, omit `catalog` to search all catalogs, "
            "or give only `catalog` to list it",
        )
    total = max(len(found), ranked_total)
    if total > p.limit:
        note = (note + " " if note else "") + (
            f"Showing the first {p.limit} of {total}: narrow with `catalog`, `code` or `query`."
        )
    if p.regimen:  # already filtered on it: the full list of regímenes per uso is noise here
        found = [{k: v for k, v in r.items() if k != "regimenes_receptor"} for r in found]
    return CatalogMatches(
        data=[CatalogEntry.of(r) for r in found[: p.limit]],
        has_more=total > p.limit,
        total_results=total,
        note=note,
    )
