"""Dates are Mexico's, whatever the server's zone or the hour: at 00:30 UTC it is still the previous
day in Mexico City, and the date filters, the SAT rules and the sandbox must all agree on that."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gigstack_mcp.clock import frozen, now, today_mx
from gigstack_mcp.sandbox.examples import income_invoice, item

from .conftest import CLOCK_START, call_err, call_ok, one_era

pytestmark = [pytest.mark.anyio, one_era]

TEAM = "team_sandbox"
NEW_YEAR_UTC = "2027-01-01T00:30:00+00:00"  # 2026-12-31 18:30 in Mexico City


def test_the_suite_runs_on_a_frozen_clock(clock):
    assert clock.at == now() == datetime.fromisoformat(CLOCK_START)
    clock.advance(days=1, seconds=30)
    assert now() == datetime.fromisoformat(CLOCK_START) + timedelta(days=1, seconds=30)
    assert now().tzinfo is not None


def test_today_is_mexicos_date():
    with frozen("2026-03-10T00:30:00Z"):
        assert now().date() == date(2026, 3, 10)
        assert today_mx() == date(2026, 3, 9)
    with frozen(datetime(2026, 3, 10, 6, 0, tzinfo=UTC)):
        assert today_mx() == date(2026, 3, 10)  # midnight in Mexico City (UTC-6)


def test_frozen_clock_needs_a_zone_and_restores_the_previous_one():
    with pytest.raises(ValueError, match="time zone"), frozen("2026-03-10T00:30:00"):
        pass
    outer = now()
    with frozen("2030-01-01T00:00:00Z"):
        assert now().year == 2030
    assert now() == outer


async def test_date_filter_uses_mexicos_date_after_midnight_utc(mcp, sandbox, clock):
    clock.set("2026-05-15T00:30:00Z")  # still 14 May in Mexico
    fresh = await call_ok(mcp, "create_income_invoice", income_invoice(item()))
    same_day = await call_ok(
        mcp, "list_income_invoices", {"date_from": "2026-05-14", "date_to": "2026-05-14"}
    )
    assert [d["uuid"] for d in same_day["data"]] == [fresh["uuid"]]
    utc_day = await call_ok(mcp, "list_income_invoices", {"date_from": "2026-05-15"})
    assert utc_day["data"] == []  # 15 May has not begun in Mexico
    stored = sandbox.state.store.get(TEAM, "invoices", fresh["uuid"])
    assert stored["created_at"] == int(datetime.fromisoformat("2026-05-15T00:30:00Z").timestamp())


async def test_sat_rules_use_mexicos_year_after_midnight_utc(mcp, sandbox, clock):
    """GLOBAL-ANIO: a global invoice's year may not be in the future. At 00:30 UTC on 1 January it is
    still the old year in Mexico, so the new year is refused and the old one is accepted."""
    clock.set(NEW_YEAR_UTC)
    global_invoice = {
        "client": {"id": "client_publico_general"},
        "items": [item(100, product_key="01010101", unit_key="ACT")],
        "use": "S01",
        "payment_form": "01",
        "payment_method": "PUE",
    }
    before = len(sandbox.state.api_requests("POST"))
    text = await call_err(
        mcp,
        "create_income_invoice",
        global_invoice | {"global": {"periodicity": "04", "months": "01", "year": 2027}},
    )
    assert "GLOBAL-ANIO" in text and "2021-2026" in text, text
    assert len(sandbox.state.api_requests("POST")) == before  # nothing sent
    issued = await call_ok(
        mcp,
        "create_income_invoice",
        global_invoice | {"global": {"periodicity": "04", "months": "12", "year": 2026}},
    )
    assert issued["uuid"]


async def test_pue_deadline_is_the_end_of_mexicos_month(mcp, clock):
    """PUE-MONTH warns that a PUE invoice must be paid by the end of the issue month: on 1 May 00:30
    UTC the issue month in Mexico is still April."""
    clock.set("2026-05-01T00:30:00Z")
    issued = await call_ok(mcp, "create_income_invoice", income_invoice(item()))
    assert any("2026-04-30" in w for w in issued["warnings"]), issued["warnings"]
