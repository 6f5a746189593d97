"""MCP prompts: the conversations our users actually have, as short scripts an assistant follows.
Each names the tools to use and the questions to ask the human before acting."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.prompts import Prompt
from pydantic import Field

from ..settings import Settings

Language = Annotated[Literal["es", "en"], Field(description="Language to talk to the user in.")]
_SPEAK = {"es": "Talk to the user in Spanish (México).", "en": "Talk to the user in English."}
_SAFETY = (
    "Never guess SAT codes: check them with lookup_catalog. Quote gigstack's error messages. "
    "A destructive tool first returns a preview: show it and wait for an explicit yes."
)


def _script(language: str, goal: str, steps: list[str]) -> str:
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    return f"{goal}\n{_SPEAK[language]} {_SAFETY}\n\n{numbered}"


def issue_invoice(
    client: Annotated[str, Field(description="Who to invoice: name, RFC or email (may be empty).")] = "",
    concept: Annotated[str, Field(description="What was sold, if known.")] = "",
    language: Language = "es",
) -> str:
    """Issue a CFDI 4.0 income invoice (factura) step by step."""
    who = f" The user mentioned the client: {client!r}." if client else ""
    what = f" The concept: {concept!r}." if concept else ""
    return _script(
        language,
        f"Goal: issue an income invoice.{who}{what}",
        [
            "Find the client with list_clients (query by name, RFC or email). If missing, ask for RFC, legal "
            "name exactly as on the Constancia de Situación Fiscal, régimen fiscal and zip, then create_client.",
            "A customer abroad has no RFC: create_client with tax_id XEXX010101000, tax_system 616, use S01, "
            "address {zip: your own expedition zip (list_teams shows it), country: their c_Pais code, e.g. "
            "USA (lookup_catalog pais)} and their own tax id in foreign_tax_id.",
            "Run validate_client_fiscal_info; if it has issues, explain what to fix and stop.",
            "Ask the currency if not pesos: a c_Moneda code (USD, EUR…) with the exchange_rate to MXN.",
            "Ask what is being invoiced: find a service with list_services or ask for description, quantity, "
            "unit price and the taxes (usually IVA 16%); never guess SAT codes: lookup_catalog query=<the "
            "concept> catalog=clave-prod-serv for product_key and catalog=clave-unidad for unit_key (E48 "
            "servicio, H87 pieza); show the match and let the user confirm it.",
            "Ask how it is paid: already paid (PUE with the real forma de pago, e.g. 03 transferencia) or later/"
            "in parts (PPD with forma 99). Choose the uso CFDI allowed for the client's régimen "
            "(lookup_catalog regimen=<code>).",
            "create_income_invoice with preview true shows the SAT checks and totals without stamping; show "
            "them (client, RFC, items, subtotal, taxes, total, uso, forma, método) and get an explicit yes.",
            "Then create_income_invoice again with the same arguments without preview, plus the preview_token; "
            "then get_invoice_files and share the PDF link with series-folio and UUID.",
        ],
    )


def cancel_invoice(
    invoice: Annotated[str, Field(description="Invoice UUID, series-folio or client, if known.")] = "",
    language: Language = "es",
) -> str:
    """Cancel an invoice with the SAT, choosing the right motive."""
    return _script(
        language,
        f"Goal: cancel an invoice ({invoice or 'ask which one'}).",
        [
            "Find it with list_income_invoices (client_id, series, folio_number, dates) and confirm with the "
            "user which one (series-folio, client, total).",
            "Explain the motives in plain words: 01 issued with errors and already replaced by a new invoice "
            "(needs the new invoice's UUID); 02 issued with errors, no replacement; 03 the sale did not happen; "
            "04 a sale included in a global invoice that is now invoiced to the customer.",
            "For 01: if the replacement does not exist yet, issue it first (create_income_invoice with "
            "related_documents [{relationship: '04', documents: [<old uuid>]}]), then use its UUID as "
            "substitution_uuid.",
            "Call cancel_invoice; show the preview and wait for an explicit yes; only then confirm.",
            "Report the result and cancellation_status (over $1,000 the receiver may have to accept within "
            "3 business days).",
        ],
    )


def monthly_global_invoice(
    month: Annotated[str, Field(description="Month 01-12 (or bimester 13-18).")] = "",
    year: Annotated[str, Field(description="Year, e.g. 2026.")] = "",
    language: Language = "es",
) -> str:
    """Issue the monthly global invoice (factura global) to público en general."""
    return _script(
        language,
        f"Goal: issue the global invoice for period {month or '?'} / {year or '?'}.",
        [
            "The period's sales in gigstack are its receipts: list_receipts (toolset receipts) with status pending and with status "
            "expired, and keep those created in the period (dates are Mexico time). Invoiced or cancelled "
            "receipts are done.",
            "Show how many tickets and their total, and get a yes. Then stamp_receipt each one with stamp_to "
            "general_public_national: it ends invoiced, in a CFDI to PUBLICO EN GENERAL (XAXX010101000, "
            "régimen 616, uso S01, your expedition zip) with the global information of its period and the "
            "ticket on its line (NoIdentificacion). Receipts left alone go into gigstack's own end-of-month "
            "global invoice, so never invoice them another way.",
            "Only sales that are not gigstack receipts go on create_income_invoice with global {periodicity "
            "(04 mensual; 05 bimestral only for régimen 621), months, year}: one item per ticket (product_key "
            "01010101, unit_key ACT, quantity 1, description 'Venta', sku = the ticket number), método PUE, "
            "forma = the form that paid the largest amount, no withholdings. Call it with preview true "
            "first, show the totals and get a yes, then again without preview plus the preview_token.",
            "Report the invoices stamped (series-folio, UUID) and any receipt that failed, quoting the error.",
        ],
    )


def credit_note(
    invoice: Annotated[str, Field(description="UUID of the income invoice to credit, if known.")] = "",
    language: Language = "es",
) -> str:
    """Issue a credit note (egress invoice) for an income invoice, partial or full."""
    return _script(
        language,
        f"Goal: issue a credit note for invoice {invoice or '(ask which)'}.",
        [
            "Find the income invoice with list_income_invoices/get_income_invoice; confirm it with the user.",
            "Ask whether it is a full or partial credit, the amount and the reason (discount, return, bonus).",
            "Build the credit note: the same client, uso G02 (G02 or S01 for público en general), "
            "related_documents [{relationship: '01', documents: [<uuid>]}] (03 for returned goods), and "
            "payment_method PUE always, even when the original is PPD. payment_form is how the credit is "
            "given, never 99: 15 Condonación if the invoice is still unpaid (its balance goes down), 17 "
            "Compensación if offset against another debt, or how the money goes back (03 transferencia, 01 "
            "efectivo); for a paid PUE original, its own forma de pago (Anexo 20, Apéndice 5). Ask if unclear.",
            "create_egress_invoice with preview true shows the SAT checks and totals without stamping; show "
            "them and get a yes. Then call it again with the same arguments without preview, plus the "
            "preview_token.",
            "Share the PDF link (get_invoice_files) and, for a PPD original, what the client still owes "
            "(get_client_statement).",
        ],
    )


def collect_payment(
    client: Annotated[str, Field(description="Who pays: name, RFC or email.")] = "",
    language: Language = "es",
) -> str:
    """Collect a payment: payment link, registering a received payment, PPD complements."""
    return _script(
        language,
        f"Goal: collect a payment from {client or '(ask who)'}.",
        [
            "Find the client with list_clients.",
            "Ask: not paid yet (request_payment: a payment link, in the payment_links toolset; ask for "
            "allowed methods) or already received (register_payment with the real forma de pago).",
            "Invoiced in parts (PPD): register_payment with automation_type ppd_invoice_and_complement stamps "
            "the PPD invoice and this payment's complement (REP); list_payment_complements invoice_id=… shows "
            "the complements of a PPD invoice and get_income_invoice its last_balance.",
            "Money for an invoice already stamped PPD (get_client_statement lists it open): do not stamp "
            "another invoice for it. gigstack's API documents no call that attaches a payment to an existing "
            "PPD invoice, so register_payment with automation_type none records the money, and tell the user "
            "its payment complement (REP) must be issued in gigstack's app; the statement nets it.",
            "To say what the client still owes, call get_client_statement (open invoices, credit notes, "
            "payments, net owed).",
            "If a payment link was paid outside gigstack, mark_payment_paid (payment_links) with the forma "
            "de pago.",
            "Report status, amounts and any invoice or complement created, with links.",
        ],
    )


def client_fiscal_check(
    client: Annotated[str, Field(description="Client name, RFC or email.")] = "",
    language: Language = "es",
) -> str:
    """Check a client's fiscal data before invoicing and explain what to fix."""
    return _script(
        language,
        f"Goal: check the fiscal data of {client or '(ask which client)'}.",
        [
            "Find the client with list_clients; get_client for the full record.",
            "validate_client_fiscal_info and explain each issue in plain words.",
            "Check the régimen against the RFC (12 characters = persona moral, 13 = física) and the usos it "
            "allows with lookup_catalog regimen=<code>.",
            "Offer to fix with update_client (legal name exactly as on the Constancia, zip of the domicilio "
            "fiscal); confirm each change with the user first.",
        ],
    )


def support_triage(
    client: Annotated[str, Field(description="Customer name, RFC or email.")] = "",
    language: Language = "es",
) -> str:
    """For a support agent: what happened with a customer's invoices and payments."""
    return _script(
        language,
        f"Goal: summarise the account of {client or '(ask which customer)'} for a support agent.",
        [
            "Find the client (list_clients) and read it (get_client, is_valid).",
            "What it owes: get_client_statement. Recent invoices (list_income_invoices client_id=…), payments "
            "(list_payments client_id=…) and receipts (list_receipts client_id=…, if the receipts toolset is on).",
            "Report per item: series-folio, date, total, status, PPD balance, payment status, with PDF links "
            "(get_invoice_files) and a customer portal link (create_client_portal_token) if asked.",
            "Do not change anything; suggest next steps (cancel, credit note, resend) for the agent to decide.",
        ],
    )


PROMPTS = [
    (issue_invoice, "Issue an invoice"),
    (cancel_invoice, "Cancel an invoice"),
    (monthly_global_invoice, "Monthly global invoice"),
    (credit_note, "Credit note"),
    (collect_payment, "Collect a payment"),
    (client_fiscal_check, "Client fiscal check"),
    (support_triage, "Support triage"),
]


@cache
def _built() -> tuple[Prompt, ...]:
    """Built once per process (each is a pydantic arguments model, ~1.5 ms): a process that builds many
    servers, like the test suite, shares them; they hold no per-server state."""
    return tuple(Prompt.from_function(fn, title=title) for fn, title in PROMPTS)


def register(server: MCPServer, settings: Settings) -> None:
    for prompt in _built():
        server.add_prompt(prompt)
