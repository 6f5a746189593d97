"""`gigstack-mcp demo`: the scripted tour runs end to end against the embedded sandbox."""

from __future__ import annotations

from gigstack_mcp.demo import STEPS, Skip, Step, list_tools, run_demo
from gigstack_mcp.tools import select


def test_demo_runs_every_step(capsys):
    outcomes = run_demo()
    out = capsys.readouterr().out
    assert [o.title for o in outcomes] == [s.title for s in STEPS]
    assert not [o for o in outcomes if o.status == "failed"], out
    registered = {s.name for s in select("all")}
    skipped = {o.title for o in outcomes if o.status == "skipped"}
    if {"create_income_invoice", "get_invoice_files"} <= registered:
        assert not skipped, out
        assert "→ create_income_invoice" in out and "status: stamped" in out
        assert "→ get_invoice_files" in out and ".pdf" in out and ".xml" in out
        # The issue-then-cancel story: the guard rail's refusal names its rule, then the two-step cancel.
        story = out[out.index("Guard rails: a wrong CFDI is refused") :]
        for line in (
            '[PPD-FORMA-99] payment_form = "03"',
            "Refused by rule PPD-FORMA-99: nothing was sent to gigstack",
            "payment_method: PPD",
            "→ cancel_invoice",
            "preview: Cancel income invoice A-",
            "Motive 02: issued with errors, no replacement.",
            "with the SAT: status cancelled, cancellation_status accepted.",
        ):
            assert line in story, line
        assert story.index("status: confirmation_required") < story.index("status: done")
    else:
        assert "Issue an income invoice" in skipped and "is not registered in this build" in out

    for line in (
        f"[1/{len(STEPS)}] List the tools",
        f"{len(registered)} tools in",
        "→ list_clients",
        "client_juan_perez",
        "→ create_client",
        "is_valid: True",
        "← tool error:",
        "tax_id",
        "status: confirmation_required",
        "preview: Delete client",
        "status: done",
        "Client not found",
        "Demo finished:",
        "0 failed.",
    ):
        assert line in out, line


def test_a_failing_step_is_reported_and_the_tour_goes_on(capsys):
    async def boom(tour):
        await tour.ok("get_client", {"id": "client_missing"})

    async def not_here(tour):
        raise Skip("nothing to show")

    steps = [
        Step("Broken", boom),
        Step("Needs a tool that does not exist", list_tools, needs=("no_such_tool",)),
        Step("Skips itself", not_here),
        Step("List the tools", list_tools),
    ]
    outcomes = run_demo(steps)
    out = capsys.readouterr().out
    assert [o.status for o in outcomes] == ["failed", "skipped", "skipped", "ok"]
    assert "FAILED: StepFailed: get_client answered an error" in out
    assert "skipped: no_such_tool is not registered in this build" in out
    assert "Demo finished: 1 ok, 2 skipped, 1 failed." in out
