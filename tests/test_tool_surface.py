"""Checks over every registered tool, as `tools/list` sends it: titles, short descriptions, annotations
(only what differs from the MCP defaults, effective values matching the tool's kind), no empty output
schemas, confirmation on destructive tools, flat input schemas with `team`, the context budget, tool
selection, and the start-up tool cache serving the same list."""

from __future__ import annotations

import json
import re
import time
from functools import cache
from pathlib import Path

import anyio
import pytest
from mcp import Client

from gigstack_mcp import toolinfo
from gigstack_mcp.cli import build_parser, main, settings_from
from gigstack_mcp.registry import CONFIRMABLE_WRITES, DEFAULT_TOOLSETS, ConfigError, Kind
from gigstack_mcp.server import build_server
from gigstack_mcp.settings import Settings
from gigstack_mcp.tools import all_toolsets, select

from .conftest import API_KEY, call_ok

ROOT = Path(__file__).parent.parent
DESTRUCTIVE_PREFIXES = ("cancel_", "delete_", "remove_", "refund_", "reset_")
READ_PREFIXES = ("list_", "get_", "lookup_")
# The MCP spec's defaults for a tool's hints (what a client assumes when a hint is not sent).
SPEC_DEFAULTS = {
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}
# Issue 13: all tools <= 56,000 characters, the default set <= 32,000 and fewer than 40 tools.
BUDGET_ALL, BUDGET_DEFAULT, MAX_DEFAULT_TOOLS = 56_000, 32_000, 40

FIFTY = [
    "list_clients",
    "get_client",
    "create_client",
    "update_client",
    "delete_client",
    "validate_client_fiscal_info",
    "create_client_portal_token",
    "stamp_client_pending_receipts",
    "list_services",
    "get_service",
    "create_service",
    "update_service",
    "delete_service",
    "list_income_invoices",
    "get_income_invoice",
    "create_income_invoice",
    "list_egress_invoices",
    "get_egress_invoice",
    "create_egress_invoice",
    "get_invoice_files",
    "cancel_invoice",
    "list_payments",
    "get_payment",
    "request_payment",
    "register_payment",
    "mark_payment_paid",
    "refund_payment",
    "cancel_payment",
    "list_receipts",
    "get_receipt",
    "create_receipt",
    "stamp_receipt",
    "cancel_receipt",
    "list_teams",
    "get_team",
    "get_team_integrations",
    "get_team_series",
    "get_team_onboarding_url",
    "create_team",
    "update_team",
    "update_team_series",
    "update_team_settings",
    "create_team_series",
    "add_team_member",
    "remove_team_member",
    "list_users",
    "get_user",
    "create_user",
    "update_user",
    "reset_user_password",
]


@cache
def listed(**settings) -> tuple[dict, ...]:
    """The tools a real in-memory MCP session lists, as wire JSON."""

    async def go() -> tuple[dict, ...]:
        async with Client(build_server(Settings(sandbox=True, **settings))) as client:
            result = await client.list_tools()
        return tuple(t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in result.tools)

    return anyio.run(go)


def effective(tool: dict) -> dict[str, bool]:
    """The hints a client applies: the spec's defaults under what the tool sends. destructiveHint and
    idempotentHint mean something only when readOnlyHint is false (spec): a read-only tool destroys
    nothing and changes nothing, however often it is called."""
    hints = {**SPEC_DEFAULTS, **tool.get("annotations", {})}
    if hints["readOnlyHint"]:
        hints.update(destructiveHint=False, idempotentHint=True)
    return hints


def names(tools) -> list[str]:
    return [t["name"] for t in tools]


def chars(tools) -> int:
    """The size of the `tools/list` answer as the server sends it (toolinfo.sent_chars: the SDK's own
    compact JSON of the result, what the stdio and HTTP transports write with model_dump_json)."""
    return toolinfo.sent_chars(list(tools))


ALL = listed(toolsets="all")


@pytest.fixture(params=names(ALL))
def tool(request) -> dict:
    return next(t for t in ALL if t["name"] == request.param)


# -- every tool ------------------------------------------------------------------------------------


def test_title_and_short_description(tool):
    assert tool.get("title", "").strip(), "no title"
    description = tool.get("description", "")
    assert description.strip(), "no description"
    assert len(description) <= 400, f"description is {len(description)} chars (max 400)"


SPECS = {s.name: s for s in select("all")}


def test_annotations_match_the_tool_kind(tool):
    """Sent: only the hints that differ from the spec's defaults, plus destructiveHint: true on every
    destructive tool (said, not left to the default). Effective: what the tool's kind and flags say."""
    sent = tool.get("annotations", {})
    assert set(sent) <= set(SPEC_DEFAULTS) and all(isinstance(v, bool) for v in sent.values())
    spec = SPECS[tool["name"]]
    destructive = spec.kind is Kind.DESTRUCTIVE
    redundant = [
        h for h, v in sent.items() if v == SPEC_DEFAULTS[h] and not (destructive and h == "destructiveHint")
    ]
    assert not redundant, f"hints that only repeat the spec's defaults: {redundant}"
    if destructive:
        assert sent.get("destructiveHint") is True
    if sent.get("readOnlyHint"):  # meaningless next to readOnlyHint (spec): never sent
        assert "destructiveHint" not in sent and "idempotentHint" not in sent
    hints = effective(tool)
    assert hints["readOnlyHint"] is (spec.kind is Kind.READ)
    assert hints["destructiveHint"] is destructive
    assert hints["idempotentHint"] is spec.idempotent
    assert hints["openWorldHint"] is (spec.toolset != "catalogs")


def test_no_output_schema_that_says_nothing(tool):
    """None, or a real one (issue 13): never an empty `{"type": "object"}`."""
    assert "outputSchema" not in tool or tool["outputSchema"].get("properties")


def test_input_schema_is_flat_and_has_team(tool):
    schema = tool["inputSchema"]
    assert schema.get("type") == "object"
    assert not {"anyOf", "oneOf", "allOf"} & set(schema), "top-level anyOf/oneOf/allOf"
    assert "team" in schema.get("properties", {})


def test_destructive_tools_need_confirmation(tool):
    hints = effective(tool)
    if tool["name"].startswith(DESTRUCTIVE_PREFIXES):
        assert hints["destructiveHint"] is True
        assert not hints["readOnlyHint"]
    if hints["destructiveHint"] or tool["name"] in CONFIRMABLE_WRITES:  # money writes: when the policy asks
        assert "confirmation_token" in tool["inputSchema"]["properties"]
    else:
        assert "confirmation_token" not in tool["inputSchema"].get("properties", {})


def test_read_tools_are_read_only(tool):
    if tool["name"].startswith(READ_PREFIXES):
        assert effective(tool)["readOnlyHint"] is True
        assert effective(tool)["destructiveHint"] is False


# Beyond the fifty API operations: offline catalog look-ups (the invoice preview is the creates' `preview`).
EXTRA_TOOLS = {
    "lookup_catalog",
    "list_payment_complements",
    "get_payment_complement",
    "get_client_statement",
}


def test_exactly_the_fifty_named_tools():
    wanted = set(FIFTY)
    assert len(wanted) == 50
    got = set(names(ALL)) - EXTRA_TOOLS
    assert got == wanted, f"missing: {sorted(wanted - got)}; unexpected: {sorted(got - wanted)}"
    assert set(names(ALL)) >= EXTRA_TOOLS


# -- context budget --------------------------------------------------------------------------------


def test_budget_all_tools():
    size = chars(ALL)
    assert size <= BUDGET_ALL, (
        f"tools/list with toolsets=all is {size} chars for {len(ALL)} tools (max {BUDGET_ALL})"
    )


def test_budget_default_tools():
    default = listed()
    size = chars(default)
    assert len(default) < MAX_DEFAULT_TOOLS, f"{len(default)} tools by default (max {MAX_DEFAULT_TOOLS - 1})"
    assert size <= BUDGET_DEFAULT, f"default tools/list is {size} chars (max {BUDGET_DEFAULT})"


def test_tool_sizes_agree_with_the_wire():
    rows = {r["name"]: r["chars"] for r in toolinfo.tool_sizes("all")}
    assert rows == {t["name"]: toolinfo.sent_chars([t]) - len('{"tools":[]}') for t in ALL}
    # the whole answer is its tools, comma-separated, in {"tools":[...]}
    assert chars(ALL) == sum(rows.values()) + len(ALL) - 1 + len('{"tools":[]}')
    # compact JSON text (no spaces, UTF-8 letters), the transports' model_dump_json; not json.dumps defaults
    assert chars(ALL) == len(json.dumps({"tools": list(ALL)}, separators=(",", ":"), ensure_ascii=False))


# -- selection -------------------------------------------------------------------------------------


def test_default_toolsets():
    default = names(listed())
    sets = all_toolsets()
    expected = [s.name for t in sets.values() if t.name in DEFAULT_TOOLSETS for s in t.specs]
    assert sorted(default) == sorted(expected)
    assert set(default) < set(names(ALL))


def test_read_only_has_no_writes():
    tools = listed(toolsets="all", read_only=True)
    assert tools
    for t in tools:
        assert effective(t)["readOnlyHint"] is True, t["name"]
        assert effective(t)["destructiveHint"] is False, t["name"]
    every_read = [t["name"] for t in ALL if effective(t)["readOnlyHint"]]
    assert names(tools) == every_read


def test_toolsets_tools_and_exclude_tools():
    assert {s.toolset for s in select("clients")} == {"clients"}
    picked = select("clients", tools="lookup_catalog", exclude_tools="delete_client,get_client")
    got = [s.name for s in picked]
    assert "lookup_catalog" in got and "delete_client" not in got and "get_client" not in got
    assert {s.toolset for s in picked} == {"clients", "catalogs"}
    assert len(select("all")) == len(ALL)
    assert [s.name for s in select("clients , catalogs")] == [
        s.name for s in select("all") if s.toolset in {"clients", "catalogs"}
    ]


def test_selection_reaches_the_server_from_the_command_line():
    args = build_parser().parse_args(["--toolsets", "clients", "--tools", "lookup_catalog", "--read-only"])
    tools = listed(**settings_from(args).model_dump(include={"toolsets", "tools", "read_only"}))
    assert names(tools) == [s.name for s in select("clients", "lookup_catalog", read_only=True)]
    assert all(effective(t)["readOnlyHint"] for t in tools)


@pytest.mark.parametrize(
    "how, bad",
    [
        ({"toolsets": "clients,nope"}, "unknown toolset 'nope'"),
        ({"tools": "get_clint"}, "unknown tool 'get_clint'"),
        ({"exclude_tools": "nope_tool"}, "unknown tool 'nope_tool'"),
    ],
)
def test_unknown_names_list_the_valid_ones(how, bad):
    with pytest.raises(ConfigError) as err:
        select(**how)
    text = str(err.value)
    assert bad in text and "valid:" in text
    valid = "clients" if "toolsets" in how else "get_client"
    assert re.search(rf"\b{valid}\b", text.split("valid:")[1])
    with pytest.raises(ConfigError):
        build_server(Settings(sandbox=True, **how))


def test_unknown_toolset_stops_the_cli(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--toolsets", "nope"])
    assert exc.value.code == 2
    assert "unknown toolset 'nope'" in capsys.readouterr().err


# -- start-up tool cache ---------------------------------------------------------------------------


async def _list_and_call(settings: Settings) -> tuple[list[dict], dict, list[type]]:
    server = build_server(settings)
    kinds = [type(t) for t in server._tool_manager.list_tools()]
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        got = await call_ok(client, "get_client", {"id": "client_juan_perez"})
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools], got, kinds


@pytest.mark.anyio
async def test_startup_cache_lists_the_same_tools_and_builds_on_call(tmp_path, monkeypatch, sandbox):
    monkeypatch.setenv("GIGSTACK_TOOL_CACHE", str(tmp_path))
    monkeypatch.setattr(toolinfo, "LOADED_AT", time.time_ns())  # sources edited during this session
    settings = Settings(api_key=API_KEY, api_url=sandbox.url, toolsets="all")
    built, got_built, kinds_built = await _list_and_call(settings)  # miss: builds and writes the cache
    files = list(tmp_path.glob("tools-*.json"))
    assert len(files) == 1
    cached, got_cached, kinds_cached = await _list_and_call(settings)  # hit: lists from the file
    assert cached == built == list(ALL)
    assert got_cached == got_built and got_cached["id"] == "client_juan_perez"
    assert {k.__name__ for k in kinds_built} == {"GigstackTool"}
    assert {k.__name__ for k in kinds_cached} == {"CachedTool"}
    # the selection still applies, with the same errors
    assert names(await _names_only(Settings(sandbox=True, toolsets="clients", read_only=True))) == [
        s.name for s in select("clients", read_only=True)
    ]
    with pytest.raises(ConfigError, match="unknown toolset 'nope'"):
        build_server(Settings(sandbox=True, toolsets="nope"))


async def _names_only(settings: Settings) -> list[dict]:
    async with Client(build_server(settings)) as client:
        return [t.model_dump(by_alias=True) for t in (await client.list_tools()).tools]


def test_startup_cache_is_not_used_when_a_source_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("GIGSTACK_TOOL_CACHE", str(tmp_path))
    monkeypatch.setattr(toolinfo, "LOADED_AT", time.time_ns())
    build_server(Settings(sandbox=True))
    (path,) = tmp_path.glob("tools-*.json")
    data = json.loads(path.read_text())
    assert "tools/clients.py" in data["deps"] and "registry/sdk.py" in data["deps"]
    data["deps"]["tools/clients.py"][1] += 1  # as if the file had been edited since
    data["tools"][0]["wire"]["description"] = "STALE"
    path.write_text(json.dumps(data))
    server = build_server(Settings(sandbox=True, toolsets="all"))
    assert all(type(t).__name__ == "GigstackTool" for t in server._tool_manager.list_tools())
    assert "STALE" not in path.read_text()  # rewritten


def test_startup_cache_ignores_sources_newer_than_the_process(tmp_path, monkeypatch):
    """A file edited after this process loaded the package: its tools in memory may be older, so the
    cache is neither written nor read by this process."""
    monkeypatch.setenv("GIGSTACK_TOOL_CACHE", str(tmp_path))
    monkeypatch.setattr(toolinfo, "LOADED_AT", 0)
    build_server(Settings(sandbox=True))
    assert not list(tmp_path.glob("tools-*.json"))


def test_startup_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("GIGSTACK_TOOL_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    build_server(Settings(sandbox=True))
    build_server(Settings(sandbox=True))
    assert not list(tmp_path.rglob("*.json"))


# -- the README ------------------------------------------------------------------------------------

README = (ROOT / "README.md").read_text("utf-8")


def test_readme_tool_table_matches_the_registry():
    table = README.split("<!-- tools:start")[1].split("-->", 1)[1].split("<!-- tools:end -->")[0]
    assert table.strip() == toolinfo.markdown().strip(), (
        "README tool table is stale: paste `python -m gigstack_mcp.toolinfo --markdown` between the markers"
    )


def test_readme_documents_every_setting():
    missing = [
        f"GIGSTACK_{n.upper()}" for n in Settings.model_fields if f"`GIGSTACK_{n.upper()}`" not in README
    ]
    assert not missing, f"README environment table lacks {missing}"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    command = re.search(r'^TEST_COMMAND="(.+)"$', ci, re.M).group(1)
    assert f"\n{command}\n" in README
