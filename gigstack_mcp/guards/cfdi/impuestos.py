"""F. Taxes: ObjetoImp, factor Exento, the c_TasaOCuota rates, IVA frontera, usual withholdings,
RESICO ISR."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from functools import cache
from typing import Any

from ...catalogs import load
from ._core import _F, AMOUNTS, Severity, _code, _Doc, _join, _list, _map, _num, _rows, _withholding, rule

TAX_CODES = {"ISR": "001", "IVA": "002", "IEPS": "003"}
FACTORS = ("Tasa", "Cuota", "Exento")
# RET-COMMON: usual withholding rates (cfdi-rules.md §F); anything else in range is legal but unusual.
COMMON_WITHHOLDING = {
    "ISR": {0.1: "10% honorarios/arrendamiento", 0.0125: "1.25% RESICO"},
    "IVA": {0.106667: "2/3 of 16%", 0.04: "4% autotransporte", 0.06: "6% subcontratación"},
}


@cache
def _frontera() -> frozenset[str]:
    data = load("cp_estimulo_frontera")
    return frozenset(data["norte"]) | frozenset(data["sur"])


@cache
def _tasa_rows() -> tuple[dict[str, Any], ...]:
    return tuple(load("tasa_o_cuota")["rows"])


def _tax_type(tax: Mapping[str, Any]) -> str | None:
    value = _code(tax.get("type"))
    return value.upper() if value else None


def _factor(tax: Mapping[str, Any]) -> str | None:
    value = _code(tax.get("factor"))
    return value.capitalize() if value else "Tasa"


def _rate6(tax: Mapping[str, Any]) -> float | None:
    rate = _num(tax.get("rate"))
    return None if rate is None else round(rate, 6)


# F. Taxes -------------------------------------------------------------------------------------------------


@rule(
    "OBJETOIMP",
    Severity.BLOCK,
    AMOUNTS,
    "taxability (ObjetoImp): 02 needs taxes (CFDI40171); 01/03/04/05 carry none (CFDI40172); 06/08 no IVA/IEPS; 07 IEPS traslado, no IVA.",
)
def _objetoimp(doc: _Doc) -> Iterator[_F]:
    """The item's taxability (ObjetoImp) does not match its taxes."""
    rows = _rows("objeto_imp")
    for path, item in doc.items():
        raw = item.get("taxability")
        code = _code(raw) or "02"
        row = rows.get(code)
        taxes = [_map(t) for t in _list(item.get("taxes"))]
        if row is None:
            yield _F(
                f"{path}.taxability",
                raw,
                _join(f"{c} {r['description']}" for c, r in rows.items()),
                f"El objeto de impuesto {code} no existe.",
                f"taxability {code} does not exist.",
            )
            continue
        rule_ = row["impuestos_concepto"]
        types = {(_tax_type(t), _withholding(t)) for t in taxes}
        # a service (by id, or found by SKU through search): its own taxes apply
        from_service = ("id" in item or "search" in item) and item.get("taxes") is None
        if rule_ == "requerido" and not taxes and not from_service:
            yield _F(
                f"{path}.taxes",
                item.get("taxes"),
                "at least one tax, e.g. IVA 0.16; or taxability 01 (no objeto)",
                "Con objeto de impuesto 02 el concepto debe llevar impuestos.",
                "With taxability 02 the item must carry taxes.",
            )
        elif rule_ == "prohibido" and taxes:
            yield _F(
                f"{path}.taxes",
                item.get("taxes"),
                "(none) or taxability 02",
                f"Con objeto de impuesto {code} el concepto no lleva impuestos.",
                f"With taxability {code} the item carries no taxes.",
            )
        elif rule_ == "permitido_sin_iva_ni_ieps" and any(t in ("IVA", "IEPS") for t, _ in types):
            yield _F(
                f"{path}.taxes",
                item.get("taxes"),
                "no IVA or IEPS",
                f"Con objeto de impuesto {code} no va IVA ni IEPS.",
                f"With taxability {code} there is no IVA or IEPS.",
            )
        elif rule_ == "requerido_ieps_traslado_sin_iva" and (
            ("IEPS", False) not in types or any(t == "IVA" for t, _ in types)
        ):
            yield _F(
                f"{path}.taxes",
                item.get("taxes"),
                "an IEPS traslado and no IVA",
                "Con objeto de impuesto 07 va IEPS trasladado y no IVA.",
                "With taxability 07 there is an IEPS traslado and no IVA.",
            )


@rule(
    "FACTOR-EXENTO",
    Severity.BLOCK,
    AMOUNTS,
    "factor Exento carries no rate (CFDI40177); Tasa/Cuota need a rate (CFDI40178); withholdings are never Exento (CFDI40184).",
)
def _factor_exento(doc: _Doc) -> Iterator[_F]:
    """Exento carries no rate and is never a withholding; Tasa and Cuota need a rate."""
    for path, tax, _item in doc.taxes():
        factor = _factor(tax)
        if factor == "Exento":
            if tax.get("rate") is not None:
                yield _F(
                    f"{path}.rate",
                    tax.get("rate"),
                    "(none) with factor Exento",
                    "Un impuesto Exento no lleva tasa.",
                    "An Exento tax carries no rate.",
                )
            if _withholding(tax):
                yield _F(
                    f"{path}.factor",
                    tax.get("factor"),
                    "Tasa or Cuota for withholdings",
                    "Una retención nunca es Exento.",
                    "A withholding is never Exento.",
                )
        elif factor in ("Tasa", "Cuota") and tax.get("rate") is None:
            yield _F(
                f"{path}.rate",
                None,
                "a rate, e.g. 0.16",
                f"Con factor {factor} la tasa es obligatoria.",
                f"With factor {factor} a rate is required.",
            )


def _tasa_allowed(code: str, factor: str, withholding: bool, today: date) -> list[dict[str, Any]]:
    direction = "retencion" if withholding else "traslado"
    return [
        r
        for r in _tasa_rows()
        if r["impuesto_code"] == code
        and r["factor"] == factor
        and r[direction]
        and (r["vigencia_desde"] is None or r["vigencia_desde"] <= today.isoformat())
        and (r["vigencia_hasta"] is None or r["vigencia_hasta"] >= today.isoformat())
    ]


def _tasa_text(rows: list[dict[str, Any]]) -> str:
    parts = [
        r["valor_maximo"] if r["tipo"] == "Fijo" else f"{r['valor_minimo']}-{r['valor_maximo']}" for r in rows
    ]
    return _join(dict.fromkeys(parts))


@rule(
    "TASA-CATALOG",
    Severity.BLOCK,
    AMOUNTS,
    "type ∈ IVA/ISR/IEPS, factor ∈ Tasa/Cuota/Exento, rate ∈ c_TasaOCuota: IVA traslado 0.16/0.08/0; IVA retención 0-0.16; ISR retención only, 0-0.35; IEPS fixed list or Cuota range. CFDI40179/40185/40219.",
)
def _tasa_catalog(doc: _Doc) -> Iterator[_F]:
    """The tax type, factor or rate is not in c_TasaOCuota (e.g. IVA 0.15, ISR as traslado)."""
    for path, tax, _item in doc.taxes():
        kind = _tax_type(tax)
        if kind not in TAX_CODES:
            yield _F(
                f"{path}.type",
                tax.get("type"),
                "IVA, ISR, IEPS",
                f"El impuesto {tax.get('type')} no existe.",
                f"Tax type {tax.get('type')} does not exist.",
            )
            continue
        factor = _factor(tax)
        if factor not in FACTORS:
            yield _F(
                f"{path}.factor",
                tax.get("factor"),
                _join(FACTORS),
                f"El tipo de factor {tax.get('factor')} no existe.",
                f"Factor {tax.get('factor')} does not exist.",
            )
            continue
        withholding = _withholding(tax)
        direction_es, direction_en = (
            ("retención", "withholding") if withholding else ("traslado", "transferred")
        )
        if factor == "Exento":
            if kind == "ISR":
                yield _F(
                    f"{path}.type",
                    kind,
                    "IVA or IEPS for Exento",
                    "ISR solo se retiene; no existe ISR exento trasladado.",
                    "ISR is only withheld; there is no exempt transferred ISR.",
                )
            continue
        rows = _tasa_allowed(TAX_CODES[kind], factor, withholding, doc.today)
        if not rows:
            allowed = [
                f"{'withholding' if w else 'transferred'} {f}"
                for f in ("Tasa", "Cuota")
                for w in (False, True)
                if _tasa_allowed(TAX_CODES[kind], f, w, doc.today)
            ]
            yield _F(
                f"{path}.withholding" if kind == "ISR" else f"{path}.factor",
                tax.get("withholding") if kind == "ISR" else factor,
                f"{kind}: {_join(allowed)}",
                f"{kind} no admite {direction_es} con factor {factor}.",
                f"{kind} cannot be {direction_en} with factor {factor}.",
            )
            continue
        rate = _rate6(tax)
        if tax.get("rate") is None:
            continue  # FACTOR-EXENTO reports it
        fits = rate is not None and any(
            (r["tipo"] == "Fijo" and rate == float(r["valor_maximo"]))
            or (r["tipo"] == "Rango" and float(r["valor_minimo"]) <= rate <= float(r["valor_maximo"]))
            for r in rows
        )
        if not fits:
            yield _F(
                f"{path}.rate",
                tax.get("rate"),
                _tasa_text(rows),
                f"La tasa {tax.get('rate')} no está en c_TasaOCuota para {kind} {direction_es} ({factor}).",
                f"Rate {tax.get('rate')} is not in c_TasaOCuota for {direction_en} {kind} ({factor}).",
            )


@rule(
    "IVA-FRONTERA",
    Severity.WARN,
    AMOUNTS,
    "IVA 0.08 (estímulo fronterizo) only when the issuer zip is in the border region (cp_estimulo_frontera).",
)
def _iva_frontera(doc: _Doc) -> Iterator[_F]:
    """IVA 8% is only for issuers in the border region (estímulo fiscal fronterizo)."""
    zip_code = doc.issuer["zip"]
    if zip_code is not None and zip_code in _frontera():
        return
    for path, tax, _item in doc.taxes():
        if (
            _tax_type(tax) == "IVA"
            and not _withholding(tax)
            and _factor(tax) == "Tasa"
            and _rate6(tax) == 0.08
        ):
            where = (
                "no se conoce el CP del emisor"
                if zip_code is None
                else f"el CP {zip_code} no es zona fronteriza"
            )
            where_en = (
                "the issuer's zip is unknown"
                if zip_code is None
                else f"zip {zip_code} is not in the border region"
            )
            yield _F(
                f"{path}.rate",
                0.08,
                "0.16 (0.08 only in the border region)",
                f"IVA 8% es solo para la región fronteriza y {where}.",
                f"IVA 8% is only for the border region and {where_en}.",
                warn=True,
            )


@rule(
    "RET-COMMON",
    Severity.WARN,
    {"I", "E", "payment"},
    "Withholding rates outside the usual ones (ISR 0.10, 0.0125; IVA 0.106667, 0.04, 0.06) are flagged.",
)
def _ret_common(doc: _Doc) -> Iterator[_F]:
    """An unusual withholding rate: check it (e.g. IVA 2/3 is 0.106667, not 0.1067)."""
    for path, tax, _item in doc.taxes():
        kind, rate = _tax_type(tax), _rate6(tax)
        common = COMMON_WITHHOLDING.get(kind or "")
        if not _withholding(tax) or common is None or rate is None or rate in common:
            continue
        usual = _join(f"{r:g} ({why})" for r, why in common.items())
        yield _F(
            f"{path}.rate",
            tax.get("rate"),
            usual,
            f"Tasa de retención de {kind} poco común; las usuales son {usual}.",
            f"Unusual {kind} withholding rate; the usual ones are {usual}.",
            warn=True,
        )


@rule(
    "RESICO-ISR",
    Severity.WARN,
    {"I", "payment"},
    "RESICO persona física (626) billing a persona moral: ISR withholding 0.0125 may be required (CFDI140225), depending on the SAT padrón mark.",
)
def _resico_isr(doc: _Doc) -> Iterator[_F]:
    """A RESICO person invoicing a company usually has ISR withheld at 1.25% (0.0125)."""
    issuer_rfc = doc.issuer["tax_id"]
    if not (issuer_rfc and len(issuer_rfc) == 13 and doc.issuer["tax_system"] == "626"):
        return
    if doc.persona != "moral":
        return
    isr = [(p, t) for p, t, _i in doc.taxes() if _tax_type(t) == "ISR" and _withholding(t)]
    if not isr:
        yield _F(
            "items[].taxes",
            None,
            'ISR withholding {"type": "ISR", "rate": 0.0125, "withholding": true}',
            "Emisor RESICO a persona moral: según su marca en el padrón, el SAT exige retención de ISR 1.25%.",
            "RESICO issuer to a company: depending on the padrón mark, SAT requires 1.25% ISR withholding.",
            warn=True,
        )
    for path, tax in isr:
        if _rate6(tax) != 0.0125:
            yield _F(
                f"{path}.rate",
                tax.get("rate"),
                "0.0125",
                "En RESICO la retención de ISR es 1.25%.",
                "RESICO ISR withholding is 1.25%.",
                warn=True,
            )
