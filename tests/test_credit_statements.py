"""Issue 14, credit notes / balances / complements and shared rules, through the real server and the
sandbox: the client statement's paging, progress and bounds; register_payment's paid_on; the RFC check
digit's one verdict; the global-invoice year the sandbox applies; automation_type explained."""

from __future__ import annotations

import importlib
from datetime import date, datetime, time, timedelta

import httpx
import pytest

from gigstack_mcp import clock
from gigstack_mcp.models.invoices import MEXICO
from gigstack_mcp.sandbox import _invoicing
from gigstack_mcp.sandbox._invoicing import build_invoice, local_ctx
from gigstack_mcp.sandbox.examples import item

from .conftest import API_KEY, call_ok, call_refused

clients_tools = importlib.import_module("gigstack_mcp.tools.clients")  # the module, not the Toolset
pytestmark = pytest.mark.anyio
TEAM = "team_sandbox"
HOSTING = {"id": "service_hosting", "quantity": 1}  # 500.00 + IVA = 580.00


def _ppd(sandbox, client_id: str, n: int) -> list[dict]:
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    body = {"client": {"id": client_id}, "items": [HOSTING], "payment_method": "PPD", "payment_form": "99"}
    return [build_invoice(ctx, body, "I") for _ in range(n)]


async def test_statement_reports_progress_per_list(mcp, sandbox):
    _ppd(sandbox, "client_acme", 3)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await mcp.call_tool(
        "get_client_statement", {"client_id": "client_acme"}, progress_callback=on_progress
    )
    assert not result.is_error, result.content[0].text
    messages = [m for _, _, m in seen]
    assert any("income invoices" in m for m in messages)
    assert any("credit notes" in m for m in messages) and any("payments" in m for m in messages)
    assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)  # progress only grows


async def test_statement_pages_through_everything_and_bounds_what_it_shows(mcp, sandbox, monkeypatch):
    """250 open invoices: read over three pages of 100, all counted in what is owed, 50 shown."""
    made = _ppd(sandbox, "client_acme", 250)
    statement = await call_ok(mcp, "get_client_statement", {"client_id": "client_acme"})
    pages = [r for r in sandbox.state.api_requests("GET", "^/invoices/income$")]
    assert len(pages) >= 3 and all(r["query"]["client_id"] == "client_acme" for r in pages)
    assert len(statement["open_invoices"]) == clients_tools.STATEMENT_ROWS
    assert "open invoices" in statement["note"]
    ours = {d["uuid"] for d in made}
    stored = [
        d
        for d in sandbox.state.store.find(
            TEAM, "invoices", lambda d: d.get("client", {}).get("id") == "client_acme"
        )
        if d["invoice_type"] == "I" and d["payment_method"] == "PPD" and d["status"] == "valid"
    ]
    assert ours <= {d["uuid"] for d in stored}
    assert statement["open_balances"]["MXN"] == round(sum(d["last_balance"] for d in stored), 2)
    # Owed nets the payments no CFDI accounts for (the seed's collected payments ran no automation).
    unapplied = statement["unapplied"]["MXN"]
    assert statement["owed"]["MXN"] == round(statement["open_balances"]["MXN"] - unapplied, 2)
    # A scan bound is said, never silently applied.
    monkeypatch.setattr(clients_tools, "STATEMENT_SCAN", 120)
    cut = await call_ok(mcp, "get_client_statement", {"client_id": "client_acme"})
    assert "newest 120" in cut["note"]


async def test_statement_of_an_unknown_client_is_a_clear_error(mcp, sandbox):
    result = await mcp.call_tool("get_client_statement", {"client_id": "client_nobody"})
    assert result.is_error and "client_nobody" in result.content[0].text


# -- register_payment paid_on ------------------------------------------------------------------------------


def _abono(invoice: dict, **extra) -> dict:
    """A payment received for 100 + IVA; gigstack stamps its PUE invoice (the documented default). No
    gigstack reference lets a registered payment name an earlier PPD invoice (see issue 13)."""
    del invoice
    return {
        "client": {"id": "client_acme"},
        "items": [item(100, description="Abono")],
        "payment_form": "03",
        **extra,
    }


async def test_paid_on_in_the_future_is_refused_before_sending(mcp, sandbox):
    [invoice] = _ppd(sandbox, "client_acme", 1)
    tomorrow = (clock.today_mx() + timedelta(days=2)).isoformat()
    await call_refused(
        mcp, sandbox, "register_payment", _abono(invoice, paid_on=tomorrow), "paid_on", "future"
    )


async def test_paid_today_is_one_register_call(mcp, sandbox):
    [invoice] = _ppd(sandbox, "client_acme", 1)
    today = clock.today_mx().isoformat()
    paid = await call_ok(mcp, "register_payment", _abono(invoice, paid_on=today))
    assert [r["path"] for r in sandbox.state.api_requests("POST", "^/payments")] == ["/payments/register"]
    assert "paid_on" not in sandbox.state.api_requests("POST", "^/payments")[0]["body"]
    assert paid["status"] == "succeeded" and len(paid["invoices"]) == 1


async def test_paid_on_an_earlier_day_dates_the_payment_the_gigstack_way(mcp, sandbox):
    """gigstack dates a payment on POST /payments/{id}/paid {date}: the payment is opened and marked paid."""
    [invoice] = _ppd(sandbox, "client_acme", 1)
    day = clock.today_mx() - timedelta(days=10)
    paid = await call_ok(
        mcp, "register_payment", _abono(invoice, paid_on=day.isoformat(), idempotency_key="bank-tx-1")
    )
    posts = sandbox.state.api_requests("POST", "^/payments")
    assert [r["path"] for r in posts] == ["/payments/request", f"/payments/{paid['id']}/paid"]
    assert posts[0]["body"]["automation_type"] == "pue_invoice"  # register's default, not request's
    assert posts[1]["body"] == {
        "payment_form": "03",
        "date": int(datetime.combine(day, time(12), MEXICO).timestamp()),
    }
    payment = sandbox.state.store.get(TEAM, "payments", paid["id"])
    assert payment["status"] == "succeeded" and payment["succeeded_at"] == posts[1]["body"]["date"]
    # The same call again (a retry, same idempotency_key): the same payment, no second invoice.
    again = await call_ok(
        mcp, "register_payment", _abono(invoice, paid_on=day.isoformat(), idempotency_key="bank-tx-1")
    )
    assert again["id"] == paid["id"] and again["invoices"] == paid["invoices"]
    assert len(sandbox.state.api_requests("POST", "/paid$")) == 1


# -- one verdict on the RFC check digit ----------------------------------------------------------------------


@pytest.mark.parametrize("rfc, warned", [("XIA190128J61", False), ("XIA190128J62", True)])
async def test_create_and_validate_agree_on_the_check_digit(mcp, sandbox, rfc, warned):
    client = {
        "name": "Xenon",
        "legal_name": "XENON INDUSTRIAL ARTICLES",
        "tax_id": rfc,
        "tax_system": "601",
        "address": {"zip": "76000"},
    }
    created = await call_ok(mcp, "create_client", client)
    validated = await call_ok(mcp, "validate_client_fiscal_info", {"id": created["id"]})
    for result in (created, validated):
        assert any("RFC-CHECKDIGIT" in w for w in result.get("warnings") or []) is warned


# -- the global-invoice year: the sandbox applies the guard's rule (gigstack_mcp.sat) -----------------------


@pytest.mark.parametrize("year, accepted", [(2021, True), (2020, False), (2026, True), (2027, False)])
def test_sandbox_global_year_is_the_guards_rule(sandbox, monkeypatch, year, accepted):
    issued = datetime.combine(date(2026, 11, 25), time(12), MEXICO)
    monkeypatch.setattr(_invoicing, "now", lambda: int(issued.timestamp()))
    body = {
        "client": {"id": "client_publico_general"},
        "items": [{"description": "Venta", "unit_price": 100, "product_key": "01010101", "unit_key": "ACT"}],
        "use": "S01",
        "payment_form": "01",
        "global": {"periodicity": "04", "months": "10", "year": year},
    }
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        r = http.post("/invoices/income", json=body)
    assert (r.status_code == 201) is accepted, r.text
    if not accepted:
        assert "CFDI40136" in r.text and "2021-2026" in r.text


# -- automation_type explained on every tool that takes one ------------------------------------------------


async def test_every_automation_type_is_explained(mcp):
    tools = (await mcp.list_tools()).tools
    taking = [t for t in tools if "automation_type" in t.input_schema.get("properties", {})]
    assert {"create_income_invoice", "register_payment", "request_payment"} <= {t.name for t in taking}
    for tool in taking:
        prop = tool.input_schema["properties"]["automation_type"]
        branch = next(o for o in prop.get("anyOf", [prop]) if "enum" in o)  # the enum carries its text
        values, description = branch["enum"], branch.get("description", prop.get("description", ""))
        assert all(v in description for v in values), (tool.name, values, description)
