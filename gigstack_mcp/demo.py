"""`gigstack-mcp demo`: a scripted tour for a newcomer. An in-process MCP client drives the real server
against the embedded gigstack sandbox (offline) and prints what it asks and what it gets back.

The tour is the list `STEPS`. A step is a title plus an `async (tour) -> None` that calls tools through
`tour.ok()` (must succeed) or `tour.refused()` (must be a tool error), leaves values for later steps in
`tour.notes`, and names the tools it `needs`: when one is not registered the step is skipped with a
clear line and the tour goes on. A step that fails is reported and the tour goes on too."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import anyio
from mcp import Client

from .sandbox.examples import new_client
from .server import build_server
from .settings import Settings
from .tools import all_toolsets

MAX_LINES = 14  # of a tool's text answer, per call
MAX_WIDTH = 300  # characters of one line of it


class Skip(Exception):
    """The step cannot run here (a tool or an earlier result is missing); not a failure."""


class StepFailed(Exception):
    """The step saw something other than what it expected."""


@dataclass
class Step:
    title: str
    run: Callable[[Tour], Awaitable[None]]
    needs: tuple[str, ...] = ()


@dataclass
class Outcome:
    title: str
    status: Literal["ok", "skipped", "failed"]
    detail: str = ""


@dataclass
class Tour:
    """What a step works with: the MCP client, the registered tools, notes from earlier steps."""

    client: Client
    tools: dict[str, Any]
    out: TextIO = field(default_factory=lambda: sys.stdout)
    notes: dict[str, Any] = field(default_factory=dict)

    def say(self, text: str = "", indent: int = 2) -> None:
        print(textwrap.indent(text, " " * indent) if text else "", file=self.out)

    def _show(self, text: str) -> None:
        lines = [
            f"{line[:MAX_WIDTH]}… ({len(line) - MAX_WIDTH} more chars)" if len(line) > MAX_WIDTH else line
            for line in text.splitlines() or [""]
        ]
        if len(lines) > MAX_LINES:
            lines = [*lines[:MAX_LINES], f"… ({len(lines) - MAX_LINES} more lines)"]
        self.say("\n".join(lines), indent=6)

    async def call(self, name: str, args: dict[str, Any] | None = None) -> Any:
        args = args or {}
        self.say(f"→ {name} {json.dumps(args, ensure_ascii=False)}", indent=4)
        result = await self.client.call_tool(name, args)
        text = result.content[0].text if result.content else ""
        self.say(("← tool error:" if result.is_error else "←"), indent=4)
        self._show(text)
        return result

    async def ok(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a tool that must succeed; its structured result."""
        result = await self.call(name, args)
        if result.is_error:
            raise StepFailed(f"{name} answered an error")
        return result.structured_content or {}

    async def refused(self, name: str, args: dict[str, Any] | None = None) -> str:
        """Call a tool that must refuse (a tool error, not a crash); its error text."""
        result = await self.call(name, args)
        if not result.is_error:
            raise StepFailed(f"{name} accepted what it should have refused")
        return result.content[0].text if result.content else ""


# -- the steps ---------------------------------------------------------------------------------------


async def list_tools(tour: Tour) -> None:
    toolset_of = {s.name: t.name for t in all_toolsets().values() for s in t.specs}
    counts = Counter(toolset_of.get(name, "other") for name in tour.tools)
    size = sum(len(t.model_dump_json(by_alias=True, exclude_none=True)) for t in tour.tools.values())
    tour.say(f"{len(tour.tools)} tools in {len(counts)} toolsets ({size:,} chars of tool schemas):")
    for toolset, n in counts.items():
        names = ", ".join(name for name in tour.tools if toolset_of.get(name, "other") == toolset)
        tour.say(f"{toolset} ({n}): {names}", indent=4)


async def find_client(tour: Tour) -> None:
    tour.say("The assistant looks the client up by RFC before invoicing, never guessing an id:")
    page = await tour.ok("list_clients", {"query": "PEGJ800101AB6"})
    if not page.get("data"):
        raise StepFailed("the seeded client Juan Pérez was not found")
    tour.notes["client_id"] = page["data"][0]["id"]


async def create_client(tour: Tour) -> None:
    tour.say("A new client with the fiscal data CFDI 4.0 needs (RFC, razón social, régimen, CP):")
    args = new_client()
    args["search"] = {"on_key": "tax_id", "on_value": args["tax_id"]}  # upsert: re-runs do not duplicate
    client = await tour.ok("create_client", args)
    if not client.get("is_valid"):
        raise StepFailed("the new client's fiscal data should be valid")
    tour.notes["new_client_id"] = client["id"]


async def issue_invoice(tour: Tour) -> None:
    tour.say("An income CFDI: uso G03 (gastos en general), PUE (paid in full), forma de pago 03 (transfer).")
    invoice = await tour.ok(
        "create_income_invoice",
        {
            "client": {"id": tour.notes.get("client_id", "client_juan_perez")},
            "use": "G03",
            "payment_method": "PUE",
            "payment_form": "03",
            "items": [
                {
                    "description": "Consultoría en sistemas",
                    "quantity": 2,
                    "unit_price": 1000,
                    "product_key": "80141503",
                    "unit_key": "E48",
                    "taxes": [{"type": "IVA", "rate": 0.16}],
                }
            ],
        },
    )
    if not invoice.get("uuid"):
        raise StepFailed("the invoice has no UUID")
    tour.notes["invoice_uuid"] = invoice["uuid"]


async def invoice_files(tour: Tour) -> None:
    uuid = tour.notes.get("invoice_uuid")
    if not uuid:
        raise Skip("no invoice was issued in this run")
    files = await tour.ok("get_invoice_files", {"uuid": uuid})
    if not (files.get("pdf") and files.get("xml")):
        raise StepFailed("expected a PDF and an XML link")


async def refused_request(tour: Tour) -> None:
    tour.say("Input we know gigstack would reject is refused before anything is sent:")
    text = await tour.refused("create_client", new_client(tax_id="NOT-AN-RFC"))
    if "tax_id" not in text:
        raise StepFailed("the refusal should name tax_id")


async def confirmed_delete(tour: Tour) -> None:
    client_id = tour.notes.get("new_client_id")
    if not client_id:
        raise Skip("no client was created in this run")
    tour.say("Destructive tools never act on the first call: they return a preview and a token.")
    first = await tour.ok("delete_client", {"id": client_id})
    if first.get("status") != "confirmation_required" or not first.get("confirmation_token"):
        raise StepFailed("the first call should only ask for confirmation")
    tour.say("The assistant shows the preview; the user says yes; the same call again with the token:")
    done = await tour.ok(
        "delete_client", {"id": client_id, "confirmation_token": first["confirmation_token"]}
    )
    if done.get("status") != "done":
        raise StepFailed("the confirmed call should have deleted the client")
    await tour.refused("get_client", {"id": client_id})


HOSTING = {
    "description": "Hosting mensual",
    "quantity": 1,
    "unit_price": 500,
    "product_key": "81112105",
    "unit_key": "MON",
    "taxes": [{"type": "IVA", "rate": 0.16}],
}
LATER = {"client": {"id": "client_juan_perez"}, "items": [HOSTING], "use": "G03", "payment_method": "PPD"}


async def refused_cfdi(tour: Tour) -> None:
    tour.say("The user: 'Invoice Juan a month of hosting; he pays next month by transfer.'")
    tour.say("Paid later is PPD, but the assistant also sends the transfer's forma de pago (03):")
    text = await tour.refused("create_income_invoice", LATER | {"payment_form": "03"})
    rules = re.findall(r"\[([A-Z0-9-]+)\]", text)
    if "PPD-FORMA-99" not in rules:
        raise StepFailed("the refusal should name rule PPD-FORMA-99")
    tour.say(f"Refused by rule {', '.join(rules)}: nothing was sent to gigstack, nothing was stamped.")


async def issue_corrected(tour: Tour) -> None:
    tour.say("Corrected as the rule says: PPD with forma de pago 99 (the transfer goes on the complement).")
    invoice = await tour.ok("create_income_invoice", LATER | {"payment_form": "99"})
    if not invoice.get("uuid") or invoice.get("last_balance") != invoice.get("total"):
        raise StepFailed("expected a stamped PPD invoice with its whole total as balance")
    tour.notes["story_uuid"] = invoice["uuid"]


async def cancel_confirmed(tour: Tour) -> None:
    uuid = tour.notes.get("story_uuid")
    if not uuid:
        raise Skip("no invoice was issued in the previous step")
    tour.say("The user: 'Cancel it, the price was wrong; no replacement.' That is motive 02.")
    args = {"uuid": uuid, "motive": "02"}
    first = await tour.ok("cancel_invoice", args)
    if first.get("status") != "confirmation_required" or not first.get("confirmation_token"):
        raise StepFailed("the first call should only ask for confirmation")
    tour.say("The assistant shows that preview; the user says yes; the same call again with the token:")
    done = await tour.ok("cancel_invoice", args | {"confirmation_token": first["confirmation_token"]})
    result = done.get("result") or {}
    if done.get("status") != "done" or result.get("status") != "cancelled":
        raise StepFailed("the confirmed call should have cancelled the invoice")
    tour.say(
        f"Cancelled {result.get('series')}-{result.get('folio_number')} with the SAT: status "
        f"{result['status']}, cancellation_status {result.get('cancellation_status')}."
    )


STEPS: list[Step] = [
    Step("List the tools", list_tools),
    Step("Find a client", find_client, needs=("list_clients",)),
    Step("Create a client", create_client, needs=("create_client",)),
    Step("Issue an income invoice", issue_invoice, needs=("create_income_invoice",)),
    Step("Fetch the invoice's PDF and XML", invoice_files, needs=("get_invoice_files",)),
    Step("A bad request is refused", refused_request, needs=("create_client",)),
    Step("A destructive action, confirmed", confirmed_delete, needs=("delete_client", "get_client")),
    Step("Guard rails: a wrong CFDI is refused", refused_cfdi, needs=("create_income_invoice",)),
    Step("Issue it correctly", issue_corrected, needs=("create_income_invoice",)),
    Step("Cancel it (motive 02): preview, then confirm", cancel_confirmed, needs=("cancel_invoice",)),
]


# -- running -----------------------------------------------------------------------------------------


async def tour(steps: Sequence[Step] = STEPS, out: TextIO | None = None) -> list[Outcome]:
    out = out or sys.stdout
    # Everything on, whatever GIGSTACK_* says: the tour shows the whole server.
    settings = Settings(
        sandbox=True,
        team=None,
        toolsets="all",
        tools="",
        exclude_tools="",
        read_only=False,
        require_preview=False,
    )
    print(
        "gigstack-mcp demo: an MCP client drives the server against the embedded gigstack sandbox "
        "(offline; nothing is sent to SAT).\n",
        file=out,
    )
    outcomes: list[Outcome] = []
    async with Client(build_server(settings)) as client:
        listed = await client.list_tools()
        t = Tour(client, {tool.name: tool for tool in listed.tools}, out)
        for n, step in enumerate(steps, 1):
            print(f"[{n}/{len(steps)}] {step.title}", file=out)
            missing = [name for name in step.needs if name not in t.tools]
            try:
                if missing:
                    raise Skip(f"{', '.join(missing)} is not registered in this build")
                await step.run(t)
                outcomes.append(Outcome(step.title, "ok"))
                t.say("ok")
            except Skip as exc:
                outcomes.append(Outcome(step.title, "skipped", str(exc)))
                t.say(f"skipped: {exc}")
            except Exception as exc:  # a demo reports and goes on
                detail = f"{type(exc).__name__}: {exc}"
                outcomes.append(Outcome(step.title, "failed", detail))
                t.say(f"FAILED: {detail}")
            print(file=out)
    counts = Counter(o.status for o in outcomes)
    print(
        f"Demo finished: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed.",
        file=out,
    )
    return outcomes


def run_demo(steps: Sequence[Step] = STEPS, out: TextIO | None = None) -> list[Outcome]:
    """Run the tour (blocking) and return each step's outcome."""
    return anyio.run(tour, steps, out)
