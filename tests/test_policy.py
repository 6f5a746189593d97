"""Spend policy: parsing with line numbers, each rule at its boundary, caps counted all-or-nothing in
one process and across processes through a real Redis, live-key detection, hot reload."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from gigstack_mcp import policy as pol

pytestmark = pytest.mark.anyio


NOON = dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)  # 12:00 in Mexico City

DESK = """
[defaults]
tools = { "*" = "allow", cancel_invoice = "deny", refund_payment = "confirm" }
currencies = ["MXN", "USD"]
live_writes = false

[defaults.money]
max_payment_mxn = 5000
confirm_above_mxn = 1000

[defaults.caps]
stamps_per_day = 3
invoiced_mxn_per_hour = 10000

[principals."tok_admin"]
tools = { cancel_invoice = "allow" }
money = { max_payment_mxn = 100000 }
"""


def facts(**kw) -> pol.CallFacts:
    base = {"principal": "tok_desk", "tool": "request_payment", "read_only": False}
    return pol.CallFacts(**(base | kw))


def test_a_policy_parses_and_principals_override_the_defaults():
    p = pol.parse_policy(DESK)
    desk, admin = pol.rules_for(p, "tok_desk"), pol.rules_for(p, "tok_admin")
    assert desk.tool_rule("cancel_invoice") is pol.ToolRule.DENY
    assert admin.tool_rule("cancel_invoice") is pol.ToolRule.ALLOW
    assert admin.tool_rule("refund_payment") is pol.ToolRule.CONFIRM  # inherited
    assert desk.money.max_payment_mxn == 5000 and admin.money.max_payment_mxn == 100000
    assert admin.money.confirm_above_mxn == 1000 and admin.caps.stamps_per_day == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[defaults]\ntools = { x = "maybe" }\n', "line 2: defaults.tools.x"),
        ("[defaults]\n\n[defaults.money]\nmax_refund_mxn = -1\n", "line 4: defaults.money.max_refund_mxn"),
        ('[defaults]\n[principals."tok_a"]\ncurrencys = ["MXN"]\n', "line 3: principals.tok_a.currencys"),
        ("[defaults.caps]\nstamps_per_week = 3\n", "line 2: defaults.caps.stamps_per_week"),
        ("[defaults\n", "not valid TOML"),
        ("[default]\nlive_writes = true\n", "line 1: default"),
    ],
)
def test_a_bad_policy_names_the_line_and_the_key(text, expected):
    with pytest.raises(pol.PolicyError) as err:
        pol.parse_policy(text, "policy.toml")
    assert expected in str(err.value) and str(err.value).startswith("policy.toml")


def test_kind_groups_sit_between_a_tool_and_the_wildcard():
    rules = pol.rules_for(
        pol.parse_policy(
            '[defaults]\ntools = { "kind:read" = "allow", request_payment = "allow", "*" = "deny" }\n'
        ),
        "x",
    )
    assert pol.decide(rules, facts(tool="list_invoices", read_only=True, kind="read")) is pol.ToolRule.ALLOW
    assert pol.decide(rules, facts(tool="request_payment", kind="write")) is pol.ToolRule.ALLOW
    for tool, kind in (("refund_payment", "destructive"), ("create_income_invoice", "write")):
        with pytest.raises(pol.PolicyRefusal):
            pol.decide(rules, facts(tool=tool, kind=kind))


def test_deny_refuses_reads_and_writes_alike_and_says_what_to_do():
    rules = pol.rules_for(pol.parse_policy(DESK), "tok_desk")
    with pytest.raises(pol.PolicyRefusal) as err:
        pol.decide(rules, facts(tool="cancel_invoice"))
    assert err.value.rule == "tools.cancel_invoice" and "administrator" in str(err.value)
    assert "administrador" in str(err.value)  # Spanish too


def test_money_limits_hold_exactly_at_the_boundary():
    rules = pol.rules_for(pol.parse_policy(DESK), "tok_desk")
    assert pol.decide(rules, facts(money="payment", amount_mxn=1000)) is pol.ToolRule.ALLOW
    assert pol.decide(rules, facts(money="payment", amount_mxn=1000.01)) is pol.ToolRule.CONFIRM
    assert pol.decide(rules, facts(money="payment", amount_mxn=5000)) is pol.ToolRule.CONFIRM
    with pytest.raises(pol.PolicyRefusal) as err:
        pol.decide(rules, facts(money="payment", amount_mxn=5000.01))
    assert err.value.rule == "money.max_payment_mxn" and err.value.limit == 5000
    assert "5,000.01 MXN" in str(err.value) and "split" in str(err.value)


def test_live_keys_refuse_writes_by_default_and_keep_reads():
    rules = pol.rules_for(pol.parse_policy(DESK), "tok_desk")
    with pytest.raises(pol.PolicyRefusal) as err:
        pol.decide(rules, facts(live=True))
    assert err.value.rule == "live_writes"
    assert pol.decide(rules, facts(live=True, read_only=True, tool="list_clients")) is pol.ToolRule.ALLOW
    opted_in = pol.rules_for(pol.parse_policy("[defaults]\nlive_writes = true\n"), "x")
    assert pol.decide(opted_in, facts(live=True)) is pol.ToolRule.ALLOW


def test_currencies_teams_and_receivers():
    rules = pol.rules_for(
        pol.parse_policy('[defaults]\ncurrencies = ["MXN"]\nteams = ["team_a"]\nreceivers = ["EKU*"]\n'), "x"
    )
    ok = {"currency": "mxn", "team": "team_a", "receiver": "EKU9003173C9"}
    assert pol.decide(rules, facts(**ok)) is pol.ToolRule.ALLOW
    for bad, rule in (
        ({"currency": "USD"}, "currencies"),
        ({"team": "team_b"}, "teams"),
        ({"receiver": "XAXX010101000"}, "receivers"),
    ):
        with pytest.raises(pol.PolicyRefusal) as err:
            pol.decide(rules, facts(**(ok | bad)))
        assert err.value.rule == rule


async def test_caps_count_per_mexico_day_all_or_nothing():
    rules = pol.rules_for(pol.parse_policy(DESK), "tok_desk")
    counters = pol.LocalCounters()
    call = facts(tool="create_income_invoice", money="invoice", amount_mxn=3000, stamps=1)
    for _ in range(3):  # 3 stamps and 9,000 MXN: both within their caps
        assert await counters.reserve(pol.charges(rules, call, NOON)) is None
    over = await counters.reserve(pol.charges(rules, call, NOON))
    assert over is not None and over.metric == "caps.stamps_per_day"
    # Nothing of the refused call was counted: the MXN counter is still at 9,000.
    hour_key = next(c.key for c in pol.charges(rules, call, NOON) if c.metric == "caps.invoiced_mxn_per_hour")
    assert counters.values[hour_key] == 9000
    # 06:30 UTC on Dec 1st is still Nov 30th in Mexico City: the same day's cap.
    late = dt.datetime(2026, 12, 1, 5, 30, tzinfo=dt.UTC)
    assert await counters.reserve(pol.charges(rules, call, late)) is not None
    next_day = dt.datetime(2026, 12, 1, 7, 0, tzinfo=dt.UTC)
    assert await counters.reserve(pol.charges(rules, call, next_day)) is None
    text = str(pol.cap_refusal(over, call))
    assert "3 stamps per day" in text and "tope" in text


async def test_release_gives_back_what_an_unsent_call_reserved():
    rules = pol.rules_for(pol.parse_policy("[defaults.caps]\nstamps_per_hour = 1\n"), "x")
    counters = pol.LocalCounters()
    call = facts(stamps=1)
    reserved = pol.charges(rules, call, NOON)
    assert await counters.reserve(reserved) is None
    await counters.release(reserved)
    assert await counters.reserve(pol.charges(rules, call, NOON)) is None


async def test_redis_counters_are_shared_and_fail_closed(redis_url):
    rules = pol.rules_for(pol.parse_policy("[defaults.caps]\nrefunded_mxn_per_day = 250\n"), "tok_r")
    call = facts(principal="tok_r", tool="refund_payment", money="refund", amount_mxn=100)
    a, b = pol.RedisCounters(redis_url), pol.RedisCounters(redis_url)  # two replicas' stores
    try:
        assert await a.reserve(pol.charges(rules, call, NOON)) is None
        assert await b.reserve(pol.charges(rules, call, NOON)) is None
        assert (await a.reserve(pol.charges(rules, call, NOON))).metric == "caps.refunded_mxn_per_day"
        exact = facts(principal="tok_r", tool="refund_payment", money="refund", amount_mxn=50)
        assert await b.reserve(pol.charges(rules, exact, NOON)) is None  # 250 exactly: allowed
    finally:
        await a.aclose()
        await b.aclose()
    down = pol.RedisCounters("redis://127.0.0.1:1/0")
    with pytest.raises(pol.CountersDown):
        await down.reserve(pol.charges(rules, call, NOON))
    await down.aclose()


def _jwt(payload: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.c2ln"


@pytest.mark.parametrize(
    ("key", "test"),
    [
        ("sk_test_abc", True),
        ("sk_live_abc", False),
        (_jwt({"livemode": False}), True),
        (_jwt({"livemode": True}), False),
        (_jwt({"key_id": "key_test_1"}), True),
        (_jwt({"team": "t"}), False),
        ("a.b.c", False),
    ],
)
def test_live_and_test_keys_as_gigstack_tells_them_apart(key, test):
    assert pol.is_test_key(key) is test


def test_the_policy_reloads_on_change_and_on_request_and_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[defaults]\ntools = { cancel_invoice = "deny" }\n', encoding="utf-8")
    now = [0.0]
    errors: list[str] = []
    holder = pol.PolicyHolder(path, clock=lambda: now[0], on_error=errors.append)
    assert pol.rules_for(holder.current(), "x").tool_rule("cancel_invoice") is pol.ToolRule.DENY
    path.write_text('[defaults]\ntools = { cancel_invoice = "allow" }\n# grown\n', encoding="utf-8")
    assert pol.rules_for(holder.current(), "x").tool_rule("cancel_invoice") is pol.ToolRule.DENY  # < 1 s
    now[0] = 1.5
    assert pol.rules_for(holder.current(), "x").tool_rule("cancel_invoice") is pol.ToolRule.ALLOW
    path.write_text("[defaults\n", encoding="utf-8")
    holder.request_reload()  # SIGHUP
    assert pol.rules_for(holder.current(), "x").tool_rule("cancel_invoice") is pol.ToolRule.ALLOW
    assert errors and "previous one stays" in errors[0]


POLICIES = Path(__file__).resolve().parent.parent / "deploy" / "policies"


def test_the_support_desk_policy_does_what_docs_policy_md_says():
    rules = pol.rules_for(pol.load_policy(POLICIES / "support-desk.toml"), "tok_any")
    assert pol.decide(rules, facts(tool="list_invoices", read_only=True, kind="read")) is pol.ToolRule.ALLOW
    assert pol.decide(rules, facts(money="payment", amount_mxn=5000, live=True)) is pol.ToolRule.ALLOW
    for over in (
        facts(money="payment", amount_mxn=5000.01),
        facts(tool="refund_payment", kind="destructive", money="refund", amount_mxn=1),
        facts(tool="cancel_invoice", kind="destructive"),
        facts(tool="create_income_invoice", kind="write"),
        facts(money="payment", amount_mxn=10, currency="USD"),
    ):
        with pytest.raises(pol.PolicyRefusal):
            pol.decide(rules, over)


def test_the_accountant_policy_does_what_docs_policy_md_says():
    policy = pol.load_policy(POLICIES / "accountant.toml")
    staff, owner = pol.rules_for(policy, "tok_staff"), pol.rules_for(policy, "tok_0123456789")
    invoice = facts(tool="create_income_invoice", kind="write", money="invoice", amount_mxn=500000, live=True)
    assert pol.decide(staff, invoice) is pol.ToolRule.ALLOW
    assert pol.decide(staff, facts(tool="cancel_invoice", kind="destructive")) is pol.ToolRule.ALLOW
    for refused in (facts(tool="refund_payment", kind="destructive"), facts(tool="add_team_member")):
        with pytest.raises(pol.PolicyRefusal):
            pol.decide(staff, refused)
    assert pol.decide(owner, facts(tool="add_team_member")) is pol.ToolRule.ALLOW
    with pytest.raises(pol.PolicyRefusal):
        pol.decide(owner, facts(tool="refund_payment", kind="destructive"))
    assert staff.caps.stamps_per_day == 300 == owner.caps.stamps_per_day
