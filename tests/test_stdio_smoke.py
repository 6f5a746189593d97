"""Every tool over stdio, once: the real `python -m gigstack_mcp` process (no API key: embedded
sandbox, all toolsets) answers a scripted session that calls each registered tool with arguments a
user would give. Reads and writes must succeed; destructive tools must come back asking for
confirmation, then succeed with the token, once (the token sent again is refused). The in-memory tests (test_<resource>.py) cover each tool's
errors; this proves the same tools work through the real process and transport."""

from __future__ import annotations

import os
import sys
import tempfile

import pytest
from mcp import Client, StdioServerParameters, stdio_client

from gigstack_mcp.sandbox.examples import item

pytestmark = pytest.mark.anyio

ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIGSTACK_")} | {"GIGSTACK_TOOLSETS": "all"}
ITEM = item()
CLIENT = {
    "name": "Smoke Test",
    "legal_name": "SMOKE TEST",
    "tax_id": "GORL850315K29",
    "tax_system": "612",
    "use": "G03",
    "email": "smoke@example.com",
    "address": {"zip": "06700"},
}


class Session:
    def __init__(self, client: Client) -> None:
        self.client, self.called = client, set()

    async def ok(self, name: str, args: dict | None = None) -> dict:
        result = await self.client.call_tool(name, args or {})
        assert not result.is_error, f"{name}: {result.content[0].text}"
        self.called.add(name)
        return result.structured_content

    async def confirmed(self, name: str, args: dict) -> dict:
        first = await self.ok(name, args)
        assert first["status"] == "confirmation_required", (name, first)
        done = await self.ok(name, args | {"confirmation_token": first["confirmation_token"]})
        assert done["status"] == "done", (name, done)
        again = await self.client.call_tool(name, args | {"confirmation_token": first["confirmation_token"]})
        # single use: refused as used, or (the object is gone or changed) by the preview's 404 or a guard
        why = again.content[0].text
        assert again.is_error and any(w in why for w in ("already used", "404", "Not sent")), (name, why)
        return done


async def script(s: Session) -> None:
    # catalogs, clients
    await s.ok("lookup_catalog", {"regimen": "612"})
    await s.ok("list_clients", {"query": "juan"})
    await s.ok("get_client", {"id": "client_juan_perez"})
    await s.ok("get_client_statement", {"client_id": "client_juan_perez"})
    client = await s.ok("create_client", CLIENT)
    await s.ok("update_client", {"id": client["id"], "phone": "5555555555"})
    await s.ok("validate_client_fiscal_info", {"id": client["id"]})
    await s.ok("create_client_portal_token", {"id": client["id"]})
    # services
    await s.ok("list_services")
    await s.ok("get_service", {"id": "service_consultoria"})
    service = await s.ok("create_service", {"description": "Soporte", "unit_price": 750})
    await s.ok("update_service", {"id": service["id"], "unit_price": 800})
    await s.confirmed("delete_service", {"id": service["id"]})
    # invoices
    invoice_args = {"client": {"id": client["id"]}, "items": [ITEM], "use": "G03", "payment_form": "03"}
    await s.ok("create_income_invoice", invoice_args | {"preview": True})
    income = await s.ok("create_income_invoice", invoice_args)
    await s.ok("list_income_invoices", {"client_id": client["id"]})
    await s.ok("get_income_invoice", {"uuid": income["uuid"]})
    await s.ok("get_invoice_files", {"uuid": income["uuid"]})
    egress = await s.ok(
        "create_egress_invoice",
        invoice_args
        | {"use": "G02", "related_documents": [{"relationship": "01", "documents": [income["uuid"]]}]},
    )
    await s.ok("list_egress_invoices")
    await s.ok("get_egress_invoice", {"uuid": egress["uuid"]})
    await s.confirmed("cancel_invoice", {"uuid": income["uuid"], "motive": "02"})
    # payments
    link = await s.ok("request_payment", {"client": {"id": client["id"]}, "items": [ITEM]})
    await s.ok("list_payments")
    await s.ok("get_payment", {"id": link["id"]})
    await s.confirmed("cancel_payment", {"id": link["id"]})
    link2 = await s.ok("request_payment", {"client": {"id": client["id"]}, "items": [ITEM]})
    await s.ok("mark_payment_paid", {"id": link2["id"], "payment_form": "03"})
    paid = await s.ok(
        "register_payment", {"client": {"id": client["id"]}, "items": [ITEM], "payment_form": "03"}
    )
    await s.confirmed("refund_payment", {"id": paid["id"], "amount": 100})
    ppd = await s.ok(
        "register_payment",
        {
            "client": {"id": client["id"]},
            "items": [ITEM],
            "payment_form": "03",
            "automation_type": "ppd_invoice_and_complement",
        },
    )
    await s.ok("list_payment_complements", {"invoice_id": ppd["invoices"][0]})
    await s.ok("get_payment_complement", {"uuid": ppd["complements"][0]})
    # receipts
    receipt = await s.ok(
        "create_receipt", {"client": {"id": client["id"]}, "items": [ITEM], "payment_form": "01"}
    )
    await s.ok("list_receipts")
    await s.ok("get_receipt", {"id": receipt["id"]})
    await s.ok("stamp_client_pending_receipts", {"id": client["id"]})
    receipt2 = await s.ok("create_receipt", {"items": [ITEM], "payment_form": "01"})
    await s.ok("stamp_receipt", {"id": receipt2["id"], "stamp_to": "general_public_national"})
    receipt3 = await s.ok("create_receipt", {"items": [ITEM], "payment_form": "01"})
    await s.confirmed("cancel_receipt", {"id": receipt3["id"]})
    await s.confirmed("delete_client", {"id": client["id"]})
    # teams and users
    teams = await s.ok("list_teams")
    home = teams["data"][0]["id"]
    await s.ok("get_team", {"id": home})
    await s.ok("get_team_integrations")
    series = await s.ok("get_team_series", {"id": home})
    await s.ok("get_team_onboarding_url", {"id": home})
    team = await s.ok("create_team", {"brand": {"alias": "Sucursal Norte"}})
    await s.ok("update_team", {"id": team["id"], "support_email": "norte@example.com"})
    await s.ok("create_team_series", {"id": team["id"], "series": "NTE"})
    first_series = series["data"][0]
    await s.ok(
        "update_team_series", {"id": home, "series_id": first_series["id"], "test": first_series["test"] + 10}
    )
    await s.ok("update_team_settings", {"id": home, "settings": {"invoice_pdf_notes": "Gracias"}})
    await s.ok("list_users")
    await s.ok("get_user", {"id": "user_owner"})
    user = await s.ok("create_user", {"email": "smoke.user@example.com", "first_name": "Smoke"})
    await s.ok("update_user", {"id": user["id"], "last_name": "Test"})
    await s.ok("add_team_member", {"id": home, "user_id": user["id"], "role": "viewer"})
    await s.confirmed("remove_team_member", {"id": home, "user_id": user["id"]})
    await s.confirmed("reset_user_password", {"email": "smoke.user@example.com"})


async def test_every_tool_over_stdio():
    with tempfile.TemporaryFile("w+") as errlog:
        params = StdioServerParameters(command=sys.executable, args=["-m", "gigstack_mcp"], env=ENV)
        async with Client(stdio_client(params, errlog=errlog)) as client:
            registered = {t.name for t in (await client.list_tools()).tools}
            session = Session(client)
            await script(session)
            prompts = (await client.list_prompts()).prompts
            assert len(prompts) == 7
            for prompt in prompts:  # prompts/get over the real transport too
                got = await client.get_prompt(prompt.name, {"language": "en"})
                assert "English" in got.messages[0].content.text
    assert session.called == registered, f"not exercised over stdio: {sorted(registered - session.called)}"
