"""The list filters gigstack documents (issue 13; gigstack-api.md §1 "Common list filters", §2 rows, §4.10),
through a real MCP client session, the server and the sandbox: each filter changes what comes back, the
sandbox receives exactly the documented query, Mexico dates become the Mexico day's unix seconds,
metadata-filtered lists page by number, gigstack's status spellings are accepted and read, and the new
client and service fields are stored and returned."""

from __future__ import annotations

import importlib
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from gigstack_mcp.clock import FrozenClock, mexico_day
from gigstack_mcp.sandbox import _contract
from gigstack_mcp.sandbox._invoicing import build_invoice, local_ctx
from gigstack_mcp.sandbox.examples import ACME, income_invoice, item, new_client

from .conftest import call_err, call_ok, call_refused, one_era

pytestmark = [pytest.mark.anyio, one_era]
invoices_tools = importlib.import_module("gigstack_mcp.tools.invoices")  # the module, not the Toolset
TEAM = "team_sandbox"
MX = timezone(timedelta(hours=-6))  # Mexico City has no DST since 2022


def _unix(*at: int) -> int:
    return int(datetime(*at, tzinfo=MX).timestamp())


def _last_query(sandbox, path: str) -> dict[str, str]:
    return sandbox.state.api_requests("GET", f"^{path}$")[-1]["query"]


def _ids(page: dict[str, Any], key: str = "id") -> list[str]:
    return [row[key] for row in page["data"]]


# -- created range: Mexico dates ----------------------------------------------------------------------


def test_mexico_day_is_its_first_and_last_second():
    assert mexico_day(date(2026, 5, 15)) == (_unix(2026, 5, 15), _unix(2026, 5, 16) - 1)
    assert mexico_day(date(2026, 12, 31)) == (_unix(2026, 12, 31), _unix(2027, 1, 1) - 1)


async def test_created_range_uses_mexico_day_boundaries(mcp, sandbox, clock: FrozenClock):
    """A client made at 23:30 on the 14th (Mexico; 05:30 UTC on the 15th) belongs to the 14th, one made
    at 00:30 on the 15th to the 15th, whatever the UTC date."""
    clock.set("2026-05-14T23:30:00-06:00")
    late = await call_ok(mcp, "create_client", new_client(name="Tarde"))
    clock.set("2026-05-15T00:30:00-06:00")
    early = await call_ok(mcp, "create_client", new_client(name="Temprano"))

    on_15 = await call_ok(mcp, "list_clients", {"date_from": "2026-05-15"})
    assert _ids(on_15) == [early["id"]]
    assert _last_query(sandbox, "/clients") == {"limit": "10", "created[gte]": str(_unix(2026, 5, 15))}

    on_14 = await call_ok(mcp, "list_clients", {"date_from": "2026-05-14", "date_to": "2026-05-14"})
    assert late["id"] in _ids(on_14) and early["id"] not in _ids(on_14)
    assert len(on_14["data"]) == 4  # the three seeded at noon that day, and the late one
    assert _last_query(sandbox, "/clients") == {
        "limit": "10",
        "created[gte]": str(_unix(2026, 5, 14)),
        "created[lte]": str(_unix(2026, 5, 15) - 1),
    }
    before = await call_ok(mcp, "list_clients", {"date_to": "2026-05-13"})
    assert before["data"] == []


async def test_every_dated_list_takes_the_range(mcp, sandbox, clock: FrozenClock):
    clock.set("2026-05-20T09:00:00-06:00")
    await call_ok(mcp, "create_service", {"description": "Soporte", "unit_price": 300})
    for tool, path in (
        ("list_services", "/services"),
        ("list_payments", "/payments"),
        ("list_receipts", "/receipts"),
        ("list_income_invoices", "/invoices/income"),
        ("list_egress_invoices", "/invoices/egress"),
    ):
        page = await call_ok(mcp, tool, {"date_from": "2026-05-20", "date_to": "2026-05-21"})
        assert _last_query(sandbox, path) == {
            "limit": "10",
            "created[gte]": str(_unix(2026, 5, 20)),
            "created[lte]": str(_unix(2026, 5, 22) - 1),
        }
        assert len(page["data"]) == (1 if tool == "list_services" else 0), tool  # the seed is older


async def test_a_range_backwards_is_refused_before_sending(mcp, sandbox):
    await call_refused(
        mcp,
        sandbox,
        "list_payments",
        {"date_from": "2026-05-20", "date_to": "2026-05-01"},
        "date_from 2026-05-20 is after date_to 2026-05-01",
    )


# -- order --------------------------------------------------------------------------------------------


async def test_order_by_and_sort(mcp, sandbox):
    newest = await call_ok(mcp, "list_services", {})
    oldest = await call_ok(mcp, "list_services", {"sort": "asc"})
    assert _ids(oldest) == list(reversed(_ids(newest))) and len(_ids(newest)) == 2
    assert _last_query(sandbox, "/services") == {"limit": "10", "sort": "asc"}

    await call_ok(mcp, "create_client", new_client(name="Beto"))
    newest_first = [c["name"] for c in (await call_ok(mcp, "list_clients"))["data"]]
    by_name = [
        c["name"] for c in (await call_ok(mcp, "list_clients", {"order_by": "name", "sort": "asc"}))["data"]
    ]
    assert newest_first[0] == "Beto" and by_name == sorted(newest_first) != newest_first
    assert _last_query(sandbox, "/clients") == {"limit": "10", "order_by": "name", "sort": "asc"}


# -- metadata -----------------------------------------------------------------------------------------


async def test_metadata_filter_and_its_page_numbers(mcp, sandbox):
    made = []
    for n in range(3):
        made.append(
            (await call_ok(mcp, "create_client", new_client(name=f"Oro {n}", metadata=["tier=gold"])))["id"]
        )
    await call_ok(mcp, "create_client", new_client(name="Plata", metadata=["tier=silver"]))

    first = await call_ok(mcp, "list_clients", {"metadata": ["tier=gold"], "limit": 2})
    assert _ids(first) == made[:0:-1] and first["has_more"] and first["next"] == "2"
    assert _last_query(sandbox, "/clients") == {"limit": "2", "metadata.tier": "gold"}
    second = await call_ok(
        mcp, "list_clients", {"metadata": ["tier=gold"], "limit": 2, "next": first["next"]}
    )
    assert _ids(second) == [made[0]] and not second["has_more"] and "next" not in second
    assert _last_query(sandbox, "/clients") == {"limit": "2", "metadata.tier": "gold", "page": "2"}

    both = await call_ok(mcp, "list_clients", {"metadata": ["tier=gold", "region=norte"]})
    assert both["data"] == []
    await call_refused(
        mcp, sandbox, "list_clients", {"metadata": ["tier=gold"], "next": "czox"}, "is not a page number"
    )


async def test_metadata_filter_on_documents(mcp, sandbox):
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    tagged = build_invoice(ctx, income_invoice(metadata={"order": "A-17"}), "I")
    build_invoice(ctx, income_invoice(metadata={"order": "A-18"}), "I")
    found = await call_ok(mcp, "list_income_invoices", {"metadata": ["order=A-17"]})
    assert _ids(found, "uuid") == [tagged["uuid"]]
    paid = await call_ok(
        mcp, "request_payment", {"client": {"id": ACME}, "items": [item()], "metadata": ["crm=9"]}
    )
    assert _ids(await call_ok(mcp, "list_payments", {"metadata": ["crm=9"]})) == [paid["id"]]
    receipt = await call_ok(mcp, "create_receipt", {"items": [item()], "metadata": ["ticket=T-1"]})
    assert _ids(await call_ok(mcp, "list_receipts", {"metadata": ["ticket=T-1"]})) == [receipt["id"]]
    assert _last_query(sandbox, "/receipts") == {"limit": "10", "metadata.ticket": "T-1"}


async def test_folio_search_in_a_metadata_list_pages_by_number(mcp, sandbox):
    """The folio scan reads page after page: with a metadata filter by `page` (a `next` cursor there
    would read the first page again)."""
    ctx = local_ctx(sandbox.state.store, TEAM, sandbox.state)
    made = [build_invoice(ctx, income_invoice(metadata={"lote": "7"}), "I") for _ in range(101)]
    oldest = made[0]
    found = await call_ok(
        mcp, "list_income_invoices", {"metadata": ["lote=7"], "folio_number": oldest["folio_number"]}
    )
    assert _ids(found, "uuid") == [oldest["uuid"]]
    pages = [r["query"] for r in sandbox.state.api_requests("GET", "^/invoices/income$")]
    assert pages == [
        {"limit": "100", "metadata.lote": "7"},
        {"limit": "100", "metadata.lote": "7", "page": "2"},
    ]


# -- per-resource filters -----------------------------------------------------------------------------


async def test_payment_currency_email_and_tax_id(mcp, sandbox):
    usd = await call_ok(
        mcp,
        "request_payment",
        {"client": {"id": ACME}, "items": [item()], "currency": "USD", "exchange_rate": 17.5},
    )
    assert _ids(await call_ok(mcp, "list_payments", {"currency": "USD"})) == [usd["id"]]
    assert _last_query(sandbox, "/payments") == {"limit": "10", "currency": "USD"}
    juan = await call_ok(mcp, "list_payments", {"email": "juan@example.com"})
    assert _ids(juan) == ["payment_demo_transfer"]
    acme = await call_ok(mcp, "list_payments", {"tax_id": "AIN980512QX9"})
    assert set(_ids(acme)) == {usd["id"], "payment_demo_card", "payment_demo_link"}
    assert _last_query(sandbox, "/payments") == {"limit": "10", "tax_id": "AIN980512QX9"}
    for bad in ({"currency": "DLS"}, {"email": "juan"}, {"tax_id": "nope"}):
        await call_refused(mcp, sandbox, "list_payments", bad, next(iter(bad)))


async def test_payment_method_is_checked_on_what_comes_back(mcp, sandbox):
    """gigstack does not honour payment_method yet (its CLI says so), nor does the sandbox: the server
    sends it and leaves out the rows of the other method, saying so."""
    page = await call_ok(mcp, "list_income_invoices", {"payment_method": "PPD"})
    assert [r["payment_method"] for r in page["data"]] == ["PPD"]
    assert "1 invoices of this page were not PPD" in page["note"] and "total_results" not in page
    assert _last_query(sandbox, "/invoices/income") == {"limit": "10", "payment_method": "PPD"}
    both = await call_ok(mcp, "list_income_invoices", {})
    assert {r["payment_method"] for r in both["data"]} == {"PPD", "PUE"} and "note" not in both


# -- status spellings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool, path, given, sent",
    [
        ("list_income_invoices", "/invoices/income", "canceled", "cancelled"),
        ("list_egress_invoices", "/invoices/egress", "pending", "pending"),
        ("list_payments", "/payments", "canceled", "cancelled"),
        ("list_receipts", "/receipts", "open", "pending"),
        ("list_receipts", "/receipts", "completed", "invoiced"),
        ("list_receipts", "/receipts", "stamped", "invoiced"),
        ("list_receipts", "/receipts", "canceled", "cancelled"),
    ],
)
async def test_status_spellings_are_sent_as_the_cli_spells_them(mcp, sandbox, tool, path, given, sent):
    await call_ok(mcp, tool, {"status": given})
    assert _last_query(sandbox, path) == {"limit": "10", "status": sent}


async def test_results_read_every_spelling(mcp, sandbox):
    """gigstack may answer "canceled", "open" or "completed": results show the one word the server
    compares against, so a canceled invoice is not counted as owed."""
    store = sandbox.state.store
    ppd = next(iter(store.find(TEAM, "invoices", lambda d: d.get("payment_method") == "PPD")))
    before = await call_ok(mcp, "get_client_statement", {"client_id": ppd["client"]["id"]})
    assert before["open_balances"]
    store.put(TEAM, "invoices", ppd | {"status": "canceled"}, "uuid")
    row = next(
        r for r in (await call_ok(mcp, "list_income_invoices", {}))["data"] if r["uuid"] == ppd["uuid"]
    )
    assert row["status"] == "cancelled"
    after = await call_ok(mcp, "get_client_statement", {"client_id": ppd["client"]["id"]})
    assert after["open_balances"] == {} and after["open_invoices"] == []

    link = store.get(TEAM, "payments", "payment_demo_link")
    store.put(TEAM, "payments", link | {"status": "canceled"})
    assert (await call_ok(mcp, "get_payment", {"id": "payment_demo_link"}))["status"] == "cancelled"

    for word, shown in (("open", "pending"), ("completed", "invoiced")):
        receipt = store.get(TEAM, "receipts", "receipt_demo_juan")
        store.put(TEAM, "receipts", receipt | {"status": word})
        assert (await call_ok(mcp, "get_receipt", {"id": "receipt_demo_juan"}))["status"] == shown


# -- the contract declares what is sent ---------------------------------------------------------------

EVERY_FILTER: dict[str, dict[str, Any]] = {
    "list_clients": {"order_by": "name", "sort": "asc", "metadata": ["a=1"]},
    "list_services": {"order_by": "timestamp", "sort": "desc"},
    "list_income_invoices": {"status": "valid", "client_id": ACME, "series": "A", "payment_method": "PUE"},
    "list_egress_invoices": {"status": "canceled", "client_id": ACME, "metadata": ["a=1"], "next": "2"},
    "list_payments": {"status": "succeeded", "client_id": ACME, "currency": "MXN", "email": "a@b.mx"},
    "list_receipts": {"status": "open", "client_id": ACME, "metadata": ["a=1"]},
}
RANGE = {"date_from": "2026-01-01", "date_to": "2026-12-31"}


@pytest.mark.parametrize("tool", sorted(EVERY_FILTER))
async def test_the_contract_declares_every_query_parameter_sent(mcp, sandbox, tool):
    await call_ok(mcp, tool, EVERY_FILTER[tool] | RANGE)
    (request,) = sandbox.state.api_requests("GET")
    assert len(request["query"]) >= 5
    operation = _contract.declared()[tool]
    assert _contract.undeclared_query(*operation, request["query"]) == []
    assert _contract.undeclared_query("GET", "/clients", ["limit", "metadata.x", "colour"]) == ["colour"]


async def test_search_takes_no_list_filters(mcp, sandbox):
    await call_refused(
        mcp, sandbox, "list_clients", {"query": "acme", "sort": "asc"}, "query searches by name", "sort"
    )


# -- client and service fields ------------------------------------------------------------------------


async def test_client_company_phone_bcc_and_defaults(mcp, sandbox):
    args = new_client(
        company="Gómez Consultores",
        phone="+52 55 1234 5678",
        bcc=["conta@example.com"],
        defaults={"issue_automatic_invoices": True, "keep_full_legal_name": None},
    )
    made = await call_ok(mcp, "create_client", args)
    (post,) = sandbox.state.api_requests("POST", "^/clients$")
    assert post["body"]["defaults"] == {"issue_automatic_invoices": True}  # null is "not given"
    assert post["body"]["bcc"] == ["conta@example.com"] and post["body"]["company"] == "Gómez Consultores"
    stored = sandbox.state.store.get(TEAM, "clients", made["id"])
    assert stored["defaults"] == {"issue_automatic_invoices": True} and stored["phone"] == "+52 55 1234 5678"
    assert made["company"] == "Gómez Consultores" and made["bcc"] == ["conta@example.com"]

    updated = await call_ok(mcp, "update_client", {"id": made["id"], "company": "GC", "bcc": None})
    assert updated["company"] == "GC" and updated["bcc"] == ["conta@example.com"]
    (put,) = sandbox.state.api_requests("PUT", f"^/clients/{made['id']}$")
    assert put["body"] == {"company": "GC"}


async def test_client_defaults_refuse_unknown_keys_and_updates(mcp, sandbox):
    await call_refused(
        mcp,
        sandbox,
        "create_client",
        new_client(defaults={"auto_invoice": True}),
        "defaults.auto_invoice: unknown key",
        "defaults takes: keep_full_legal_name, issue_automatic_invoices, issue_invoiceable_receipts",
    )
    await call_refused(mcp, sandbox, "update_client", {"id": ACME, "defaults": {}}, "defaults")
    await call_refused(mcp, sandbox, "create_client", new_client(bcc=["not-an-email"]), "bcc.0")


async def test_service_quantity_and_metadata(mcp, sandbox):
    made = await call_ok(
        mcp,
        "create_service",
        {"description": "Póliza", "unit_price": 250, "quantity": 3, "metadata": ["erp=P-9"]},
    )
    (post,) = sandbox.state.api_requests("POST", "^/services$")
    assert post["body"]["quantity"] == 3 and post["body"]["metadata"] == {"erp": "P-9"}
    assert made["quantity"] == 3 and made["metadata"] == {"erp": "P-9"}
    updated = await call_ok(mcp, "update_service", {"id": made["id"], "quantity": 2, "metadata": None})
    assert updated["quantity"] == 2 and sandbox.state.store.get(TEAM, "services", made["id"])["metadata"] == {
        "erp": "P-9"
    }
    assert "quantity" in await call_err(mcp, "update_service", {"id": made["id"], "quantity": 0})
