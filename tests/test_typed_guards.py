"""Issue 16: the guard rails read the tool's validated params model, and the request body is built once per
call; the guard rails, the preview token and the POST all read that one build. Through a real MCP session
against the sandbox on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from gigstack_mcp.guards import cfdi, wiring
from gigstack_mcp.guards.cfdi._core import _request
from gigstack_mcp.models import ToolParams
from gigstack_mcp.models.invoices import CreateInvoiceParams
from gigstack_mcp.sandbox.examples import item, new_client

from .conftest import call_err, call_ok, one_era

pytestmark = [pytest.mark.anyio, one_era]
# A customer abroad, its country given in lower case: the params model writes the c_Pais code ("USA").
ABROAD = {
    "tax_id": "XEXX010101000",
    "tax_system": "616",
    "legal_name": "GLOBEX CORPORATION",
    "address": {"zip": "64000", "country": "usa"},
    "foreign_tax_id": "987654321",
}
ITEM = {
    "description": "Consultoría",
    "quantity": 1,
    "unit_price": 100,
    "product_key": "81111500",
    "unit_key": "HUR",
    "taxes": [{"type": "IVA", "rate": 0}],
}

PAYMENT = {"client": {"id": "client_acme"}, "items": [item()]}


def invoice_to(client: dict[str, Any]) -> dict[str, Any]:
    return {
        "client": client,
        "items": [ITEM],
        "use": "S01",
        "payment_method": "PUE",
        "payment_form": "03",
        "currency": "USD",
        "exchange_rate": 17.25,
    }


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Body builds and body reads per params model class. A counter wraps the real methods (they still
    build and return the body): how often the server builds a body is not visible from outside it, and
    the sandbox only sees the one body that is sent."""
    counts: Counter[str] = Counter()
    build, read = ToolParams._build_body, ToolParams.body

    def counted_build(self: ToolParams) -> dict[str, Any]:
        counts[f"build {type(self).__name__}"] += 1
        return build(self)

    def counted_read(self: ToolParams) -> dict[str, Any]:
        counts[f"read {type(self).__name__}"] += 1
        return read(self)

    monkeypatch.setattr(ToolParams, "_build_body", counted_build)
    monkeypatch.setattr(ToolParams, "body", counted_read)
    return counts


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the invoice guard hands check_invoice. A spy around the real rule check (it still runs every
    rule): which object the guard passes is inside the server, not visible to a client."""
    seen: list[Any] = []
    real = cfdi.check_invoice

    def spy(body: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(body)
        return real(body, *args, **kwargs)

    monkeypatch.setattr(cfdi, "check_invoice", spy)  # the guard imports it from the package at call time
    return seen


async def test_an_income_invoice_builds_its_body_once_and_sends_what_the_guard_read(
    mcp, sandbox, builds, checked
):
    await call_ok(mcp, "create_income_invoice", invoice_to(ABROAD))
    # The guard rails and the POST both read the body; it was built once.
    assert builds["build CreateInvoiceParams"] == 1, builds
    assert builds["read CreateInvoiceParams"] >= 2, builds
    [model] = checked
    assert isinstance(model, CreateInvoiceParams)  # the typed model, not a dict made from it
    guard_body = dict(_request(model))
    assert guard_body["client"]["address"]["country"] == "USA"  # the model's value, not the argument's
    [post] = sandbox.state.api_requests("POST", "^/invoices/income$")
    assert post["body"] == guard_body | {"idempotency_key": post["idempotency_key"]}


async def test_a_rule_reads_the_value_the_params_model_validated(mcp, sandbox, checked):
    """CFDI40156 names the country whose pattern the foreign tax id breaks: the model's "USA", where the
    raw arguments said "usa" (checked as a dict, they name "usa")."""
    args = invoice_to(ABROAD | {"foreign_tax_id": "12-3"})
    text = await call_err(mcp, "create_income_invoice", args)
    assert "XEXX-RESIDENCIA" in text and "pattern for USA" in text, text
    assert not sandbox.state.api_requests("POST")  # refused: only the issuer was read
    assert isinstance(checked[0], CreateInvoiceParams)
    with pytest.raises(cfdi.RuleViolation, match="pattern for usa"):
        cfdi.check_invoice(args, "I")


@pytest.mark.parametrize(
    ("tool", "args", "model"),
    [
        ("create_client", new_client(), "CreateClientParams"),
        ("register_payment", PAYMENT | {"payment_form": "03"}, "RegisterPaymentParams"),
        ("request_payment", PAYMENT, "RequestPaymentParams"),
        ("create_receipt", {"items": [item()], "payment_form": "03"}, "CreateReceiptParams"),
    ],
)
async def test_every_guard_hands_its_rules_the_params_model(mcp, monkeypatch, builds, tool, args, model):
    """A spy around wiring.rules (the real one still runs): what a guard passes is inside the server."""
    handed: list[Any] = []
    real = wiring.rules

    def spy(check: Any, body: Any, *rest: Any, **kwargs: Any) -> list[str]:
        handed.append(body)
        return real(check, body, *rest, **kwargs)

    monkeypatch.setattr(wiring, "rules", spy)
    await call_ok(mcp, tool, args)
    assert [type(b).__name__ for b in handed] == [model]
    assert builds[f"build {model}"] == 1, builds


def test_a_copy_or_a_changed_field_gets_its_own_body():
    p = CreateInvoiceParams.model_validate(invoice_to(ABROAD))
    mine = p.body()
    mine["items"][0]["quantity"] = 5  # a caller changing its copy (register_payment pops keys)
    mine.pop("use")
    assert p.body()["items"][0]["quantity"] == 1 and p.body()["use"] == "S01"
    assert p.model_copy(update={"use": "G03"}).body()["use"] == "G03"
    assert p.body()["use"] == "S01"
    p.use = "G03"
    assert p.body()["use"] == "G03"


def test_a_mapping_is_still_read_as_it_comes():
    body: Mapping[str, Any] = invoice_to(ABROAD)
    assert _request(body) is body and _request(None) == {} and _request("text") == {}
