"""Clients toolset: find, read, create, update, validate and delete receptores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from ..cfdi_math import money
from ..context import Api
from ..guards import wiring
from ..models import quoted, shown
from ..models._base import same_state
from ..models.clients import (
    Client,
    ClientIdParams,
    ClientPage,
    CreateClientParams,
    Deleted,
    FiscalValidation,
    ListClientsParams,
    PortalToken,
    PortalTokenParams,
    UpdateClientParams,
)
from ..models.invoices import AWAITING_ACCEPTANCE
from ..models.statements import (
    ClientStatement,
    OpenInvoice,
    StatementCredit,
    StatementParams,
    StatementPayment,
)
from ..registry import GuardViolation, Toolset, refuse

clients = Toolset("clients", "Clients (receptores): find, create, update, validate fiscal data.")
# The customer portal is gigstack's self-service page, not part of invoicing conversations: off by default
# (every default tool is paid for in every chat).
portal = Toolset("portal", "Customer portal links where a client downloads its invoices.")


@clients.read("Find clients")
async def list_clients(api: Api, p: ListClientsParams) -> ClientPage:
    """List clients, newest first, or search them (`query`: name, RFC, email). Search before creating
    one."""
    if p.query_text:
        return await api.list("/clients/search", ClientPage, p, q=p.query_text)
    return await api.list("/clients", ClientPage, p)


@clients.read("Get a client")
async def get_client(api: Api, p: ClientIdParams) -> Client:
    """Get a client's fiscal data by id."""
    return await api.get(f"/clients/{p.id}", Client)


async def _guard_create(api: Api, p: CreateClientParams) -> list[str]:
    from ..guards.cfdi import check_client  # loaded on the first check, not at start-up

    return wiring.rules(check_client, p)


async def _guard_update(api: Api, p: UpdateClientParams) -> list[str]:
    current = await wiring.receiver(api, {"id": p.id})
    wiring.forget(api, p.id)  # the tool is about to change it
    from ..guards.cfdi import check_client  # loaded on the first check, not at start-up

    return wiring.rules(check_client, p, current)


@clients.write("Create a client", guard=_guard_create)
async def create_client(api: Api, p: CreateClientParams) -> Client:
    """Create a client. To invoice it, ask for RFC, legal_name (as on the constancia fiscal), tax_system
    and address.zip. Search first."""
    return await api.post("/clients", Client, json=p.body())


@clients.write("Update a client", idempotent=True, guard=_guard_update)
async def update_client(api: Api, p: UpdateClientParams) -> Client:
    """Change only the given fields of a client."""
    body = p.body()
    if not body:
        raise refuse("ARGS-NO-CHANGE", "give at least one field to change")
    return await api.put(f"/clients/{p.id}", Client, json=body)


async def _preview_delete(api: Api, p: ClientIdParams) -> str:
    c = await api.get(f"/clients/{p.id}", Client)
    return (
        f"Delete client {shown(c.id)}: {quoted(c.legal_name or c.name)} (RFC {shown(c.tax_id)}, "
        f"{shown(c.email, 'no email')})."
    )


@clients.destructive("Delete a client", preview=_preview_delete)
async def delete_client(api: Api, p: ClientIdParams) -> Deleted:
    """Delete a client (its invoices stay)."""
    return await api.delete(f"/clients/{p.id}", Deleted)


async def _guard_validate(api: Api, p: ClientIdParams) -> list[str]:
    """The same local rules create_client and update_client run (e.g. the RFC check digit), so the
    two never disagree about one RFC; gigstack's own verdict comes in the result."""
    stored = await wiring.receiver(api, {"id": p.id})
    try:
        from ..guards.cfdi import check_client  # loaded on the first check, not at start-up

        return wiring.rules(check_client, {}, stored)
    except GuardViolation as exc:  # broken rules are what validating is for: report, do not refuse
        return [str(exc)]


@clients.write("Validate client fiscal data", idempotent=True, guard=_guard_validate)
async def validate_client_fiscal_info(api: Api, p: ClientIdParams) -> FiscalValidation:
    """Check a client's RFC, name, regimen and zip before invoicing; says what to fix."""
    return await api.post(f"/clients/validate/{p.id}", FiscalValidation)


@portal.write("Client portal link")
async def create_client_portal_token(api: Api, p: PortalTokenParams) -> PortalToken:
    """A link (valid ~5 days) where a client, by id or email, downloads its invoices."""
    if not (p.id or p.email):
        raise refuse(
            "ARGS-CLIENT-ID-OR-EMAIL", "give the client's id or email", field="id", allowed="id or email"
        )
    return await api.post("/clients/customerportal", PortalToken, json=p.body())


# -- statement (estado de cuenta) -------------------------------------------------------------------------

STATEMENT_SCAN = 2000  # documents read at most per list (income, egress, payments)
STATEMENT_ROWS = 50  # open invoices shown; credit notes and payments: the newest STATEMENT_ROWS // 2
# c_TipoRelacion a credit note credits with: 01 nota de crédito, 03 devolución, 07 aplicación de anticipo
CREDITING = {"01", "03", "07"}


def _live(doc: dict[str, Any]) -> bool:
    """Valid, or cancelled but still awaiting the receiver's acceptance (valid until accepted)."""
    cancelled = same_state(doc.get("status")) == "cancelled"  # gigstack also writes "canceled"
    return not cancelled or doc.get("cancellation_status") in AWAITING_ACCEPTANCE


def _by_currency(docs: list[dict], amount: Callable[[dict], float]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for doc in docs:
        currency = doc.get("currency") or "MXN"
        totals[currency] = money(totals[currency] + amount(doc))
    return dict(totals)


def _ppd_rows(income: list[dict]) -> dict[str, OpenInvoice]:
    """Each PPD invoice with what its payment complements left (last_balance); a PUE invoice was paid at
    issue, so it owes nothing."""
    rows = {}
    for inv in (i for i in income if i.get("payment_method") == "PPD"):
        total = float(inv.get("total") or 0)
        balance = float(inv.get("last_balance", total) or 0)
        row = {"total": total, "paid": money(total - balance), "credited": 0.0, "balance": balance}
        rows[str(inv.get("uuid")).upper()] = OpenInvoice.model_validate(inv | row)
    return rows


def _apply(note: dict, rows: dict[str, OpenInvoice]) -> StatementCredit:
    """A credit note, applied to the invoices it relates, in order, up to what each still owes."""
    total = left = float(note.get("total") or 0)
    related = [
        str(uuid).upper()
        for rel in note.get("related_documents") or []
        if rel.get("relationship") in CREDITING
        for uuid in rel.get("documents") or []
    ]
    for row in (rows[u] for u in related if u in rows):
        if left <= 0 or row.currency != note.get("currency", row.currency):
            continue
        share = min(left, row.balance)
        row.credited, row.balance, left = (
            money(row.credited + share),
            money(row.balance - share),
            left - share,
        )
    return StatementCredit.model_validate(note | {"credits": related, "applied": money(total - left)})


def _kept(payment: dict) -> float:
    """What a payment brought in, after its refunds."""
    return float(payment.get("total") or 0) - float(payment.get("refunded_amount") or 0)


def _unapplied(payment: dict) -> bool:
    """Money received that no CFDI accounts for: no invoice, complement or receipt came of it (automation
    none). gigstack's API documents no way to attach such a payment to an invoice already stamped PPD, so
    the statement nets it against the open balances instead of ignoring it."""
    return not (payment.get("invoices") or payment.get("complements") or payment.get("receipt"))


def _net(open_balances: dict[str, float], unapplied: dict[str, float]) -> dict[str, float]:
    """Open balances minus unapplied payments, by currency (negative: the client has money in favour)."""
    return {
        currency: money(open_balances.get(currency, 0.0) - unapplied.get(currency, 0.0))
        for currency in {**open_balances, **unapplied}
    }


def _statement(
    client: Client, income: list[dict], egress: list[dict], pays: list[dict]
) -> tuple[ClientStatement, int]:
    """The statement and how many open invoices there are."""
    income, egress = [i for i in income if _live(i)], [e for e in egress if _live(e)]
    pays = [p for p in pays if p.get("status") == "succeeded"]
    rows = _ppd_rows(income)
    credits = sorted((_apply(n, rows) for n in egress), key=lambda c: -(c.created_at or 0))
    still_open = sorted((r for r in rows.values() if r.balance > 0), key=lambda r: r.created_at or 0)
    payments = sorted(
        (
            StatementPayment.model_validate(p | {"paid_at": p.get("succeeded_at") or p.get("created_at")})
            for p in pays
        ),
        key=lambda p: -(p.paid_at or 0),
    )
    open_balances = _by_currency([r.model_dump() for r in still_open], lambda r: r["balance"])
    unapplied = _by_currency([p for p in pays if _unapplied(p)], _kept)
    statement = ClientStatement(
        client=client.model_dump(),
        owed=_net(open_balances, unapplied),
        open_balances=open_balances,
        unapplied=unapplied,
        invoiced=_by_currency(income, lambda i: float(i.get("total") or 0)),
        paid=_by_currency(pays, _kept),
        credited=_by_currency(egress, lambda e: float(e.get("total") or 0)),
        open_invoices=still_open[:STATEMENT_ROWS],
        credit_notes=credits[: STATEMENT_ROWS // 2],
        payments=payments[: STATEMENT_ROWS // 2],
    )
    return statement, len(still_open)


@clients.read("Client statement")
async def get_client_statement(api: Api, p: StatementParams) -> ClientStatement:
    """What a client owes: open invoices with balances, credit notes and payments applied, net owed."""
    client = await api.get(f"/clients/{p.client_id}", Client)
    ctx, done = api.ctx, 0

    def reporter(what: str) -> Callable[[int], Awaitable[None]]:
        async def report(count: int) -> None:
            if ctx is not None:
                await ctx.report_progress(done + count, None, f"read {count} {what}")

        return report

    lists = []
    for path, query, what in (
        ("/invoices/income", {"client_id": p.client_id}, "income invoices"),
        ("/invoices/egress", {"client_id": p.client_id}, "credit notes"),
        ("/payments", {"client_id": p.client_id, "status": "succeeded"}, "payments"),
    ):
        rows = await api.collect(path, query=query, max_items=STATEMENT_SCAN + 1, progress=reporter(what))
        lists.append(rows)
        done += len(rows)
    statement, open_count = _statement(client, *(rows[:STATEMENT_SCAN] for rows in lists))
    notes = []
    if any(len(rows) > STATEMENT_SCAN for rows in lists):
        notes.append(
            f"Read only the newest {STATEMENT_SCAN} documents of a list: older ones are not counted."
        )
    if open_count > STATEMENT_ROWS:
        notes.append(
            f"Showing the oldest {STATEMENT_ROWS} of {open_count} open invoices; the totals count all."
        )
    statement.note = " ".join(notes) or None
    return statement
