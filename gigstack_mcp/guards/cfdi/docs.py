"""docs/guard-rails.md and the README's rule table, generated from RULES (with what the table relies
on around it, and the rules of the research note that have no check of their own)."""

from __future__ import annotations

from ._core import RULES, SCOPE_NAMES

# What the rule table relies on, checked elsewhere (docs/guard-rails.md says it after the table).
_AROUND_THE_RULES = [
    "",
    "## Checked around the rules",
    "",
    "- **The issuer** (RFC, régimen, expedition zip) the rules compare with is the team the call names, else",
    "  the API key's own team, learnt as gigstack's official CLI does (`resolveTeam`: the team in the key's JWT",
    "  payload, `GET /teams/{id}`; else `GET /teams` and its only team). It is cached per key and dropped when",
    "  `update_team` changes a team, so GLOBAL-BIMESTRAL-621, GENERIC-CP and IVA-FRONTERA run on",
    "  calls that name no team. With several teams and no team in the key it stays unknown (those rules warn).",
    "- **Arguments**: `currency` must be a c_Moneda code (CFDI40113; `DLS` is refused) and a client's",
    "  `address.country` a c_Pais alpha-3 code, before any rule runs. A tax id that is not an RFC is refused",
    "  with what a customer abroad takes: XEXX010101000, régimen 616, uso S01, the issuer's zip, `address.country`",
    "  (ResidenciaFiscal) and `foreign_tax_id` (NumRegIdTrib).",
    "- **Receipts and global invoices**: gigstack invoices its receipts itself (self-invoice, `stamp_receipt`,",
    "  its end-of-month global invoice), so a `create_income_invoice` with `global` whose lines name an open",
    "  receipt (`sku`) is refused (it would be invoiced twice), and the period's open receipts are a warning.",
    "  `stamp_receipt` with `general_public_national` is the way: the receipt ends invoiced, its line is the",
    "  ticket (01010101, ACT, 1, Venta, NoIdentificacion = receipt id), per the Guía de llenado del CFDI global.",
]


# Rules of cfdi-rules.md with no check of their own, and why.
NOT_CHECKED: dict[str, str] = {
    "RFC-GENERIC": "Definition (XAXX/XEXX are 13-character física RFCs); used by the GENERIC-* and XEXX rules.",
    "RECEPTOR-PADRON": "Needs the SAT padrón (RFC, name, zip, régimen must match the CSF): use validate_client_fiscal_info before issuing.",
    "FORMA-MAYOR": "Needs the breakdown of how the sale was paid; the user must pick the form that paid the largest amount.",
    "TP-NO-FORMA": "Only for T/N/P documents; gigstack builds payment complements itself and no tool issues T or N.",
    "TP-NO-METODO": "Only for T/N/P documents (see TP-NO-FORMA).",
    "PAGO-P": "gigstack builds the payment complement (type P) itself.",
    "PAGO-FOR-PPD": "Needs the invoice being paid; gigstack only issues complements for PPD invoices.",
    "NOMINA-N": "No tool issues nómina.",
    "IMPUESTOS-NONEMPTY": "Covered by OBJETOIMP (02 needs at least one tax) and TAX-BASE-POSITIVE (base > 0).",
    "IVA-EXENTO": "Definition; enforced by FACTOR-EXENTO and OBJETOIMP.",
    "TP-NO-IMPUESTOS": "Only for T/P documents (see TP-NO-FORMA).",
    "CANCEL-01-FALLBACK": "Advice: if a motive 01 cancellation fails, SAT allows 02 (also for the substitute).",
    "CANCEL-CONFIRM": "Done by the registry: cancel tools are destructive and need the user's confirmation.",
}


# --------------------------------------------------------------------------------------------------
# The README table


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rules_markdown() -> str:
    """docs/guard-rails.md, generated from RULES and NOT_CHECKED."""
    lines = [
        "# SAT guard rails (CFDI 4.0)",
        "",
        "Generated from `gigstack_mcp.guards.cfdi.RULES` by `python -m gigstack_mcp.guards.cfdi > docs/guard-rails.md`;",
        "do not edit by hand. Every rule is checked locally, before any request, on the JSON body gigstack takes.",
        "",
        "Severity: **BLOCK** = SAT/PAC would reject it, nothing is sent · **POLICY** = the SAT guide says so but PACs",
        "stamp anyway: blocked unless the caller allows it (`allow_policy=True`) · **WARN** = cannot be decided",
        "offline, or practice rather than law: the request goes ahead and the warning is shown.",
        "A BLOCK or POLICY rule only warns when the data it needs is unknown (e.g. the issuer's zip).",
        "",
        "| Rule | Severity | Applies to | What is checked | What the error says |",
        "|---|---|---|---|---|",
    ]
    for rule_id, r in RULES.items():
        scopes = ", ".join(name for key, name in SCOPE_NAMES.items() if key in r.scopes)
        says = (r.check.__doc__ or "").strip()
        lines.append(f"| {rule_id} | {r.severity} | {scopes} | {_cell(r.description)} | {_cell(says)} |")
    lines += _AROUND_THE_RULES
    lines += [
        "",
        "## Rules of the research note without a check of their own",
        "",
        "| Rule | Why |",
        "|---|---|",
        *(f"| {rule_id} | {_cell(why)} |" for rule_id, why in NOT_CHECKED.items()),
    ]
    return "\n".join(lines) + "\n"


def readme_table() -> str:
    """The short rule table the README carries (the full one is docs/guard-rails.md)."""
    lines = ["| Rule | Severity | What is checked |", "|---|---|---|"]
    lines += [f"| {rule_id} | {r.severity} | {_cell(r.description)} |" for rule_id, r in RULES.items()]
    return "\n".join(lines) + "\n"
