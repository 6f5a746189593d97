"""A, B, B2. The receptor: RFC, persona, régimen, uso CFDI and zip; público en general and the
other generic RFCs; foreign receivers (ResidenciaFiscal, NumRegIdTrib)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...sat import ZIP_RE
from ._core import (
    _F,
    EXTRANJERO,
    GENERIC_EGRESS_USOS,
    INVOICE,
    PUBLICO_GENERAL,
    PUBLICO_NOMBRE,
    RECEIVER,
    RFC_RE,
    Severity,
    _Doc,
    _join,
    _plain,
    _rows,
    rule,
)

_PERSONA = {"fisica": "física", "moral": "moral"}
_CORPORATE = re.compile(r"\b(SA|SAB|SAPI|SC|AC|SPR|S DE RL|S EN C|SPR DE RL|SAS)( DE (CV|RL|RI|RL DE CV))?$")


def _usos_for(regimen: str | None, persona: str | None) -> list[str]:
    flag = f"persona_{persona}" if persona else None
    return [
        code
        for code, row in _rows("uso_cfdi").items()
        if (flag is None or row[flag]) and (regimen is None or regimen in row["regimenes_receptor"])
    ]


def _regimenes_for(persona: str) -> list[str]:
    return [code for code, row in _rows("regimen_fiscal").items() if row[persona]]


# A. Receptor, persona, régimen, uso ------------------------------------------------------------------


@rule(
    "RFC-FORMAT",
    Severity.BLOCK,
    RECEIVER,
    "RFC matches SAT t_RFC: 3 letters (moral, 12) or 4 (física, 13) + yymmdd + 3 homoclave.",
)
def _rfc_format(doc: _Doc) -> Iterator[_F]:
    """The RFC is not a valid RFC (uppercased; 12 characters for a company, 13 for a person)."""
    if doc.rfc and not doc.rfc_ok:
        yield _F(
            doc.rf("tax_id"),
            doc.rfc,
            "12 (moral) or 13 (física) characters: AAA[A]YYMMDDXXX",
            f"El RFC {doc.rfc} no tiene el formato del SAT.",
            f"{doc.rfc} is not a valid RFC.",
        )


def _check_digit_ok(rfc: str) -> bool:
    chars = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ"
    total = 481 if len(rfc) == 12 else 0
    for i, c in enumerate(reversed(rfc), start=1):
        total += chars.index(c) * i
    return total % 11 == 0


@rule("RFC-CHECKDIGIT", Severity.WARN, RECEIVER, "Mod-11 check digit of the RFC (generic RFCs exempt).")
def _rfc_checkdigit(doc: _Doc) -> Iterator[_F]:
    """The RFC's check digit does not add up: probably a typo; compare with the Constancia de Situación Fiscal."""
    if doc.rfc_ok and not doc.generic and not _check_digit_ok(doc.rfc or ""):
        yield _F(
            doc.rf("tax_id"),
            doc.rfc,
            "",
            "El dígito verificador del RFC no cuadra; revise la Constancia de Situación Fiscal.",
            "The RFC's check digit does not match; check it against the Constancia de Situación Fiscal.",
        )


@rule(
    "PERSONA-FROM-RFC",
    Severity.WARN,
    RECEIVER,
    "Persona from the RFC (13 = física, 12 = moral); a company-like legal name on a 13-character RFC is flagged.",
)
def _persona_from_rfc(doc: _Doc) -> Iterator[_F]:
    """The legal name looks like a company (S.A. de C.V., S.C., A.C.…) but the RFC is a person's (13 characters)."""
    if doc.persona == "fisica" and not doc.generic and _CORPORATE.search(_plain(doc.receiver["legal_name"])):
        yield _F(
            doc.rf("tax_id"),
            doc.rfc,
            "12-character RFC for a persona moral",
            "La razón social parece de persona moral pero el RFC es de persona física (13 caracteres).",
            "The legal name looks like a company but the RFC is a person's (13 characters).",
        )


def _regimen_findings(doc: _Doc, who: str) -> Iterator[_F]:
    data = doc.receiver if who == "receiver" else doc.issuer
    field = doc.rf("tax_system") if who == "receiver" else "issuer.tax_system"
    regimen = data["tax_system"]
    if regimen is not None and regimen not in _rows("regimen_fiscal"):
        legacy = " (3.3 only)" if regimen in {"609", "628", "629", "630"} else ""
        yield _F(
            field,
            regimen,
            _join(_rows("regimen_fiscal")),
            f"{regimen} no es un régimen fiscal del catálogo c_RegimenFiscal de CFDI 4.0{legacy}.",
            f"{regimen} is not a CFDI 4.0 régimen fiscal{legacy}.",
        )


@rule(
    "REGIMEN-CATALOG",
    Severity.BLOCK,
    RECEIVER,
    "Régimen fiscal (receiver, and issuer when known) is one of the 19 CFDI 4.0 codes; 609/628/629/630 refused. CFDI40157/40140.",
)
def _regimen_catalog(doc: _Doc) -> Iterator[_F]:
    """The régimen fiscal is not in the CFDI 4.0 catalog."""
    yield from _regimen_findings(doc, "receiver")
    if doc.scope in INVOICE:
        yield from _regimen_findings(doc, "issuer")


@rule(
    "REGIMEN-PERSONA",
    Severity.BLOCK,
    RECEIVER,
    "The régimen applies to the RFC's persona (e.g. 601 moral only, 612 física only). CFDI40158/40141.",
)
def _regimen_persona(doc: _Doc) -> Iterator[_F]:
    """The régimen fiscal does not apply to this kind of taxpayer (persona física/moral, from the RFC length)."""
    row = _rows("regimen_fiscal").get(doc.receiver["tax_system"] or "")
    if row and doc.persona and not row[doc.persona]:
        yield _F(
            doc.rf("tax_system"),
            row["code"],
            f"for a persona {_PERSONA[doc.persona]}: {_join(_regimenes_for(doc.persona))}",
            f"El régimen {row['code']} no aplica a persona {_PERSONA[doc.persona]} (RFC {doc.rfc}).",
            f"Régimen {row['code']} does not apply to a persona {_PERSONA[doc.persona]} (RFC {doc.rfc}).",
        )
    issuer_rfc = doc.issuer["tax_id"]
    issuer_row = _rows("regimen_fiscal").get(doc.issuer["tax_system"] or "")
    if doc.scope in INVOICE and issuer_row and issuer_rfc and RFC_RE.match(issuer_rfc):
        persona = "fisica" if len(issuer_rfc) == 13 else "moral"
        if not issuer_row[persona]:
            yield _F(
                "issuer.tax_system",
                issuer_row["code"],
                f"for a persona {_PERSONA[persona]}: {_join(_regimenes_for(persona))}",
                f"El régimen del emisor {issuer_row['code']} no aplica a persona {_PERSONA[persona]}.",
                f"The issuer's régimen {issuer_row['code']} does not apply to a persona {_PERSONA[persona]}.",
            )


@rule(
    "USO-CATALOG",
    Severity.BLOCK,
    {"I", "E", "client", "payment", "stamp"},
    "Uso CFDI is one of the 24 CFDI 4.0 codes; P01 (3.3 only) refused. CFDI40160.",
)
def _uso_catalog(doc: _Doc) -> Iterator[_F]:
    """The uso CFDI is not in the CFDI 4.0 catalog (P01 "Por definir" no longer exists)."""
    field, use = doc.use
    if use is not None and use not in _rows("uso_cfdi"):
        p01 = use.upper() == "P01"
        yield _F(
            field,
            use,
            _join(_usos_for(doc.receiver["tax_system"], doc.persona) or _rows("uso_cfdi")),
            "P01 (Por definir) ya no existe en CFDI 4.0; use S01 si no hay efectos fiscales o el uso real."
            if p01
            else f"{use} no es un uso del catálogo c_UsoCFDI 4.0.",
            "P01 (Por definir) does not exist in CFDI 4.0; use S01 (no fiscal effects) or the real use."
            if p01
            else f"{use} is not a CFDI 4.0 uso.",
        )


@rule(
    "USO-REGIMEN",
    Severity.BLOCK,
    {"I", "E", "client", "payment", "stamp"},
    "The uso applies to the receiver's persona and régimen (c_UsoCFDI columns). CFDI40161.",
)
def _uso_regimen(doc: _Doc) -> Iterator[_F]:
    """The uso CFDI is not allowed for the receiver's régimen fiscal / persona."""
    field, use = doc.use
    row = _rows("uso_cfdi").get(use or "")
    regimen = doc.receiver["tax_system"]
    regimen = regimen if regimen in _rows("regimen_fiscal") else None
    if not row or (doc.persona is None and regimen is None):
        return
    persona_ok = doc.persona is None or row[f"persona_{doc.persona}"]
    regimen_ok = regimen is None or regimen in row["regimenes_receptor"]
    if not (persona_ok and regimen_ok):
        who = " ".join(
            x
            for x in (
                f"régimen {regimen}" if regimen else "",
                f"persona {_PERSONA[doc.persona]}" if doc.persona else "",
            )
            if x
        )
        yield _F(
            field,
            use,
            _join(_usos_for(regimen, doc.persona)),
            f"El uso {use} no aplica a un receptor con {who}.",
            f"Uso {use} is not allowed for a receiver with {who}.",
        )


@rule(
    "CP-FORMAT",
    Severity.BLOCK,
    RECEIVER,
    "Receiver zip (DomicilioFiscalReceptor) and issuer zip (LugarExpedicion) are 5 digits.",
)
def _cp_format(doc: _Doc) -> Iterator[_F]:
    """The postal code is not 5 digits."""
    zips = [(doc.rf("zip"), doc.receiver["zip"])]
    if doc.scope in INVOICE:
        zips.append(("issuer.address.zip", doc.issuer["zip"]))
    for field, zip_code in zips:
        if zip_code is not None and not ZIP_RE.match(zip_code):
            yield _F(
                field,
                zip_code,
                "5 digits, e.g. 06700",
                f"El código postal {zip_code} no tiene 5 dígitos.",
                f"Postal code {zip_code} is not 5 digits.",
            )


# B. Público en general and generic RFCs -----------------------------------------------------------------


@rule(
    "PUBLICO-NOMBRE",
    Severity.BLOCK,
    RECEIVER,
    "Legal name PUBLICO EN GENERAL only with RFC XAXX010101000 (CFDI40146); XAXX with another name is flagged.",
)
def _publico_nombre(doc: _Doc) -> Iterator[_F]:
    """ "PUBLICO EN GENERAL" is the name of RFC XAXX010101000 only."""
    name = _plain(doc.receiver["legal_name"])
    if name == PUBLICO_NOMBRE and doc.rfc and doc.rfc != PUBLICO_GENERAL:
        yield _F(
            doc.rf("tax_id"),
            doc.rfc,
            PUBLICO_GENERAL,
            "Con nombre PUBLICO EN GENERAL el RFC debe ser XAXX010101000.",
            "A receiver named PUBLICO EN GENERAL must have RFC XAXX010101000.",
        )
    elif doc.rfc == PUBLICO_GENERAL and name and name != PUBLICO_NOMBRE:
        yield _F(
            doc.rf("legal_name"),
            doc.receiver["legal_name"],
            PUBLICO_NOMBRE,
            "El RFC XAXX010101000 se usa con el nombre PUBLICO EN GENERAL.",
            "RFC XAXX010101000 goes with the name PUBLICO EN GENERAL.",
            warn=True,
        )


@rule(
    "GENERIC-REGIMEN-616",
    Severity.BLOCK,
    RECEIVER,
    "Generic RFCs (XAXX…, XEXX…) take régimen 616 Sin obligaciones fiscales. CFDI40159.",
)
def _generic_regimen(doc: _Doc) -> Iterator[_F]:
    """A generic RFC (público en general / extranjero) must use régimen 616."""
    regimen = doc.receiver["tax_system"]
    if doc.generic and regimen is not None and regimen != "616":
        yield _F(
            doc.rf("tax_system"),
            regimen,
            "616",
            f"Con RFC genérico {doc.generic} el régimen debe ser 616 (Sin obligaciones fiscales).",
            f"With the generic RFC {doc.generic} the régimen must be 616 (Sin obligaciones fiscales).",
        )


@rule(
    "GENERIC-CP",
    Severity.BLOCK,
    {"I", "E", "payment", "client"},
    "Generic RFCs take the issuer's expedition zip (LugarExpedicion) as receiver zip; warns when the issuer zip is unknown. CFDI40149.",
)
def _generic_cp(doc: _Doc) -> Iterator[_F]:
    """With a generic RFC the receiver's zip must equal the issuer's (LugarExpedicion)."""
    if not doc.generic:
        return
    receiver_zip, issuer_zip = doc.receiver["zip"], doc.issuer["zip"]
    if issuer_zip is None:
        if doc.scope != "client":
            yield _F(
                doc.rf("zip"),
                receiver_zip,
                "the issuer's zip (team address.zip)",
                "No se conoce el CP del emisor: confirme que el CP del receptor genérico es el de expedición.",
                "The issuer's zip is unknown: make sure the generic receiver's zip is your expedition zip.",
                warn=True,
            )
    elif receiver_zip is not None and receiver_zip != issuer_zip:
        yield _F(
            doc.rf("zip"),
            receiver_zip,
            issuer_zip,
            f"Con RFC genérico el CP del receptor debe ser el lugar de expedición {issuer_zip}.",
            f"With a generic RFC the receiver's zip must be the issuer's expedition zip {issuer_zip}.",
        )


@rule(
    "GENERIC-USO",
    Severity.BLOCK,
    {"I", "E", "payment"},
    "Generic RFCs (régimen 616): income ⇒ uso S01; egress ⇒ G02 or S01, the usos c_UsoCFDI allows for 616 "
    "(CP01 is for payment complements). CFDI40161.",
)
def _generic_uso(doc: _Doc) -> Iterator[_F]:
    """With a generic RFC the uso must be S01 (income), or G02 / S01 (egress: the usos of régimen 616)."""
    field, use = doc.use
    if not doc.generic or use is None:
        return
    wanted = GENERIC_EGRESS_USOS if doc.scope == "E" else ("S01",)
    if use not in wanted:
        kind = "egreso" if doc.scope == "E" else "ingreso"
        yield _F(
            field,
            use,
            _join(wanted),
            f"Un CFDI de {kind} a {doc.generic} lleva uso {' o '.join(wanted)}.",
            f"An {'egress' if doc.scope == 'E' else 'income'} CFDI to {doc.generic} takes uso "
            f"{' or '.join(wanted)}.",
        )


@rule(
    "XEXX-RESIDENCIA",
    Severity.BLOCK,
    RECEIVER,
    "XEXX010101000 needs a foreign country (ResidenciaFiscal ≠ MEX, CFDI40152); warns when no country is given. "
    "A foreign country or foreign_tax_id (NumRegIdTrib) only with XEXX010101000 (CFDI40151, CFDI40154); "
    "foreign_tax_id needs the country (CFDI40153) and follows its c_Pais pattern (CFDI40156).",
)
def _xexx_residencia(doc: _Doc) -> Iterator[_F]:
    """A foreign receiver (XEXX010101000) needs a country of residence other than Mexico."""
    yield from _foreign_residence_rfc(doc)
    yield from _foreign_tax_id(doc)
    if doc.rfc != EXTRANJERO:
        return
    country = doc.receiver["country"]
    if country is None:
        yield _F(
            doc.rf("country"),
            None,
            "c_Pais alpha-3 other than MEX, e.g. USA",
            "Para un receptor extranjero indique su país de residencia fiscal (address.country, c_Pais).",
            "For a foreign receiver give the country of tax residence in address.country (c_Pais, e.g. "
            "USA) and their tax id in foreign_tax_id.",
            warn=True,
        )
    elif _plain(country) in {"MEX", "MX", "MEXICO"}:
        yield _F(
            doc.rf("country"),
            country,
            "c_Pais alpha-3 other than MEX, e.g. USA",
            "El RFC XEXX010101000 es para residentes en el extranjero: la residencia fiscal no puede ser MEX.",
            "XEXX010101000 is for foreign residents: the tax residence cannot be MEX.",
        )


# B2. Foreign receivers (ResidenciaFiscal, NumRegIdTrib) ---------------------------------------------------


def _pais_row(country: str | None) -> dict[str, Any] | None:
    from ...catalogs import entry

    return entry("pais", country) if country else None


def _foreign_tax_id(doc: _Doc) -> Iterator[_F]:
    """XEXX-RESIDENCIA, NumRegIdTrib: a foreign tax id belongs to a foreign receiver (XEXX010101000,
    CFDI40154), with its country (CFDI40153), following that country's c_Pais pattern (CFDI40156)."""
    number = doc.receiver["foreign_tax_id"]
    if number is None:
        return
    field = doc.rf("foreign_tax_id")
    if doc.rfc and doc.rfc != EXTRANJERO:
        yield _F(
            field,
            number,
            f"no foreign_tax_id with RFC {doc.rfc} (or tax_id {EXTRANJERO} for a customer abroad)",
            "NumRegIdTrib solo se registra con el RFC genérico extranjero XEXX010101000.",
            f"A foreign tax id only goes with the foreign generic RFC {EXTRANJERO}.",
        )
        return
    country = doc.receiver["country"]
    if country is None:
        yield _F(
            doc.rf("country"),
            None,
            "c_Pais alpha-3, e.g. USA",
            "Con NumRegIdTrib se debe registrar ResidenciaFiscal (el país del receptor).",
            "A foreign tax id needs the receiver's country of residence (address.country).",
        )
        return
    row = _pais_row(country)
    pattern = (row or {}).get("patron_identidad_tributaria")
    if pattern and not re.fullmatch(pattern, number):
        yield _F(
            field,
            number,
            f"the c_Pais pattern for {country}: {pattern}",
            f"El NumRegIdTrib no cumple el patrón de {country} en c_Pais ({pattern}).",
            f"The foreign tax id does not match SAT's pattern for {country} ({pattern}); "
            "write it without separators.",
        )


def _foreign_residence_rfc(doc: _Doc) -> Iterator[_F]:
    """XEXX-RESIDENCIA, CFDI40151: a receiver abroad without an RFC is XEXX010101000; a Mexican RFC
    (or XAXX) carries no foreign residence."""
    country = doc.receiver["country"]
    if not doc.rfc or doc.rfc == EXTRANJERO or country is None or _plain(country) in {"MEX", "MX", "MEXICO"}:
        return
    yield _F(
        doc.rf("tax_id"),
        doc.rfc,
        f"{EXTRANJERO} (régimen 616, uso S01, zip = your expedition zip) for a customer abroad, or country MEX",
        "La residencia fiscal extranjera solo aplica con el RFC XEXX010101000.",
        f"A customer resident in {country} is invoiced to {EXTRANJERO} with régimen 616, uso S01 and "
        "your expedition zip; a Mexican RFC keeps country MEX.",
    )
