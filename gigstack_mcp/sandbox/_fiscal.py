"""Fiscal checks the sandbox applies like gigstack/SAT would (RFC shape, régimen, zip)."""

from __future__ import annotations

from ..catalogs import codes, load
from ..sat import EXTRANJERO, PUBLICO_GENERAL, RFC_RE, ZIP_RE

# The SAT formats come from gigstack_mcp/sat.py, shared with the guard rails; the sandbox takes them here.
__all__ = ["EXTRANJERO", "PUBLICO_GENERAL", "RFC_RE", "ZIP_RE", "fiscal_issues", "persona"]


def persona(rfc: str) -> str:
    return "fisica" if len(rfc) == 13 else "moral"


def fiscal_issues(doc: dict) -> list[str]:
    """What keeps a client from being invoiced (empty list = valid)."""
    issues: list[str] = []
    rfc = (doc.get("tax_id") or "").upper()
    if not rfc:
        issues.append("tax_id (RFC) is missing")
    elif not RFC_RE.match(rfc):
        issues.append(f"tax_id {rfc} is not a valid RFC")
    if not doc.get("legal_name"):
        issues.append("legal_name is missing (must match the Constancia de Situación Fiscal)")
    regime = doc.get("tax_system")
    if not regime:
        issues.append("tax_system (régimen fiscal) is missing")
    elif regime not in codes("regimen_fiscal"):
        issues.append(f"tax_system {regime} is not a CFDI 4.0 régimen fiscal")
    elif rfc and RFC_RE.match(rfc):
        row = next(r for r in load("regimen_fiscal")["rows"] if r["code"] == regime)
        if not row[persona(rfc)]:
            issues.append(f"tax_system {regime} does not apply to a persona {persona(rfc)}")
    country = (doc.get("address") or {}).get("country")
    if rfc == EXTRANJERO and country == "MEX":  # CFDI40152 (no country at all is allowed: Anexo 20)
        issues.append(
            "a foreign receiver (XEXX010101000) resides abroad: address.country is its c_Pais code, not MEX"
        )
    zip_code = (doc.get("address") or {}).get("zip")
    if not zip_code:
        issues.append("address.zip is missing (domicilio fiscal)")
    elif not ZIP_RE.match(str(zip_code)):
        issues.append(f"address.zip {zip_code} is not a 5-digit postal code")
    return issues
