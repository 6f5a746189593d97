"""Fuzz every tool through a real MCP session (2025-11-25 handshake, so every call is serialized as
JSON-RPC) against the real server and a real sandbox on 127.0.0.1.

For each tool, hypothesis draws (a) arguments from the tool's advertised `inputSchema`
(hypothesis-jsonschema) and (b) mutations of a base call: wrong types, missing required fields, unknown
fields, huge strings, odd unicode, negative and absurd amounts, injection strings (path traversal,
query smuggling, SQL/template/shell/header injection). Whatever comes in, every answer must be:

- a well-formed result (structured content that fits the output schema, a text block) or a tool error
  from our error mapping (never the SDK's bare "Error executing tool x" that an unexpected exception
  gives, never a protocol error), and the server keeps answering;
- for input we know is invalid, nothing sent: schema-invalid arguments and arguments our models refuse
  reach no endpoint at all; a guard-rail refusal sends nothing that writes (the guard may read the
  client's fiscal data first);
- confined: a call that names an object by id only touches URLs that carry that id verbatim (no path
  traversal or query smuggling through an id); destructive tools never act without confirmation;
- the sandbox never crashes (no 5xx in its log: no faults are injected here).

Examples per tool: GIGSTACK_FUZZ_EXAMPLES (default 25 of each kind in CI, 5 elsewhere: see
tests/conftest.py; derandomized, so CI is reproducible). GIGSTACK_FUZZ_STATS=<file> writes the counts (docs/reliability.md quotes them; with -n0)."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import anyio.from_thread
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from mcp import Client
from mcp.types import CallToolResult, TextContent

from gigstack_mcp.registry import Kind, ToolSpec
from gigstack_mcp.sandbox.examples import income_invoice, item
from gigstack_mcp.sandbox.server import SandboxServer
from gigstack_mcp.server import build_server
from gigstack_mcp.tools import select

from .conftest import API_KEY, SLOW_TOO, make_settings

TEAM = "team_sandbox"
EXAMPLES = int(os.environ.get("GIGSTACK_FUZZ_EXAMPLES", "25" if SLOW_TOO else "5"))
SPECS: dict[str, ToolSpec] = {s.name: s for s in select("all")}
WRITES = {"POST", "PUT", "DELETE", "PATCH"}

ITEM = item()
# Well-formed calls the mutations start from, so they reach the fields that carry amounts and ids
# (schema-drawn calls rarely get past the SAT rules to them).
SEEDS: dict[str, dict[str, Any]] = {
    "create_income_invoice": income_invoice(ITEM),
    "create_egress_invoice": {"client": {"id": "client_acme"}, "items": [ITEM], "use": "G02"},
    "register_payment": {"client": {"id": "client_juan_perez"}, "items": [ITEM], "payment_form": "03"},
    "request_payment": {"client": {"id": "client_acme"}, "items": [ITEM]},
    "create_receipt": {"items": [ITEM], "payment_form": "01"},
    "create_service": {k: v for k, v in ITEM.items() if k != "quantity"},
    "create_client": {
        "name": "Lucía Gómez",
        "legal_name": "LUCIA GOMEZ RUIZ",
        "tax_id": "GORL850315K29",
        "tax_system": "612",
        "address": {"zip": "06700"},
    },
    "list_clients": {"query": "acme", "limit": 5},
    "lookup_catalog": {"catalog": "uso_cfdi", "code": "G03"},
}
HUGE = "Ñ" * 100_000
ODD_UNICODE = [
    "\x00",
    "a\x00b",
    "\u202eRTL override",
    "\ufeffBOM",
    "zero\u200bwidth",
    "e\u0301 (combining)",
    "😀" * 64,
    "１２３４５",  # full-width digits
    "Ⅻ",
    "\u00a0",
    "\ud800",  # a lone surrogate: not valid UTF-8
    "",
    " " * 3,
    "\n\t\r",
]
INJECTIONS = [
    "../services/service_hosting",
    "../../v2/teams",
    "client_acme/../../clients",
    "client_acme?team=team_other",
    "client_acme#fragment",
    "%2e%2e%2fservices",
    "..",
    ".",
    "client_acme/stamp-pending-receipts",
    "team_sandbox/series",  # get_team would read GET /teams/team_sandbox/series (another route)
    "team_sandbox/settings",  # update_team would PUT /teams/team_sandbox/settings
    "'; DROP TABLE clients; --",
    '" OR 1=1 --',
    "{{7*7}}${7*7}",
    "${jndi:ldap://127.0.0.1/x}",
    "<script>alert(1)</script>",
    "$(touch /tmp/gigstack-fuzz-pwned)",
    "a\r\nX-Injected: 1",
    "\\..\\..\\windows",
    "http://169.254.169.254/latest/meta-data/",
]
NUMBERS = [-1, -0.01, -1e308, 1e308, 0, 1e-300, -(2**63), 2**64, 3.14159265358979]
WRONG = [None, True, 17, -3.5, "text", [], [1, "a"], {}, {"x": {"y": []}}]


@dataclass
class Stats:
    calls: Counter = field(default_factory=Counter)
    outcomes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    mutations: Counter = field(default_factory=Counter)

    def dump(self) -> dict[str, Any]:
        total = Counter()
        for c in self.outcomes.values():
            total.update(c)
        return {
            "tools": len(self.calls),
            "calls": sum(self.calls.values()),
            "outcomes": dict(total),
            "mutations": dict(self.mutations),
            "per_tool": {n: dict(c) for n, c in sorted(self.outcomes.items())},
        }


class Harness:
    """One sandbox, one server, one MCP session for the whole module; hypothesis drives it from sync
    test code through an anyio blocking portal."""

    def __init__(self, sandbox: SandboxServer, portal: Any, client: Client, tools: dict[str, Any]):
        self.sandbox, self.portal, self.client, self.tools = sandbox, portal, client, tools
        self.validators = {n: jsonschema.Draft202012Validator(t.input_schema) for n, t in tools.items()}
        self.stats = Stats()

    def base(self, name: str) -> dict[str, Any]:
        """A realistic call: the seed, or the required path ids filled with seeded objects' ids."""
        if name in SEEDS:
            return json.loads(json.dumps(SEEDS[name]))
        spec, args = SPECS[name], {}
        for f in spec.params.path_fields:
            args[f] = self.real_id(spec.toolset, f)
        return args

    def real_id(self, toolset: str, name: str) -> str:
        if toolset == "teams":
            return TEAM if name == "id" else "series_A"
        docs = self.sandbox.state.store.all(TEAM, toolset)  # collections are named like the toolsets
        doc = docs[0][1] if docs else {}
        return str(doc.get("uuid") or doc.get("id") or "nothing_here")

    def call(self, name: str, args: Any, label: str) -> None:
        state = self.sandbox.state
        state.requests.clear()
        try:
            result: CallToolResult = self.portal.call(self.client.call_tool, name, args)
        except Exception as exc:  # a protocol error: the server must answer every call with a result
            pytest.fail(f"{name}({_short(args)}) [{label}]: protocol error {type(exc).__name__}: {exc}")
        requests = list(state.requests)
        self.stats.calls[name] += 1
        text = _check_well_formed(name, args, result, self.tools[name])
        spec = SPECS[name]
        where = f"{name}({_short(args)}) [{label}]"

        # null is accepted wherever a field is optional (it means "not given"; the schemas say so), so it
        # does not make a call invalid.
        validator = self.validators[name]
        schema_ok = validator.is_valid(args) or validator.is_valid(_without_nulls(args))
        refused = result.is_error and any(m in text for m in ("validation error", "Invalid arguments"))
        guarded = result.is_error and "Not sent to gigstack" in text
        outcome = (
            "schema-invalid" if not schema_ok
            else "refused by validation" if refused
            else "refused by guard rail" if guarded
            else "gigstack error" if result.is_error
            else "success"
        )  # fmt: skip
        self.stats.outcomes[name][outcome] += 1

        if not schema_ok:
            assert result.is_error, f"{where}: schema-invalid arguments were accepted"
        if not schema_ok or refused:
            assert not requests, f"{where}: invalid arguments reached the sandbox: {requests}"
        if guarded:
            writes = [r for r in requests if r["method"] in WRITES]
            assert not writes, f"{where}: a guard-rail refusal still wrote: {writes}"
        crashed = [r for r in requests if (r.get("status") or 0) >= 500]
        assert not crashed, f"{where}: the sandbox crashed: {crashed}"
        if spec.kind is Kind.DESTRUCTIVE:
            writes = [r for r in requests if r["method"] in WRITES]
            assert not writes, f"{where}: a destructive tool acted without confirmation: {writes}"
            assert result.is_error or result.structured_content["status"] != "done"
        for f in spec.params.path_fields:
            value = args.get(f) if isinstance(args, dict) else None
            if not isinstance(value, str):
                continue
            for r in requests:
                assert "/" not in value or value not in unquote(r["path"]), (
                    f"{where}: {f}={value!r} was sent as several path segments: {r['method']} {r['path']}"
                )
                # The sandbox logs the decoded path: an id sent as one segment is in it verbatim.
                assert value in unquote(r["path"]) or _lookup(r, args), (
                    f"{where}: {f}={value!r} reached {r['method']} {r['path']} (not confined to the id)"
                )

    def alive(self) -> None:
        tools = self.portal.call(self.client.list_tools)
        assert {t.name for t in tools.tools} == set(SPECS)
        result = self.portal.call(self.client.call_tool, "get_client", {"id": "client_acme"})
        assert not result.is_error


def _without_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_without_nulls(v) for v in node]
    return node


def _lookup(request: dict[str, Any], args: dict[str, Any]) -> bool:
    """The guard rails' reads of fiscal data: the call's team and the receiver named in the body."""
    if request["method"] != "GET":
        return False
    path = unquote(request["path"])
    team, client = args.get("team"), args.get("client")
    cid = client.get("id") if isinstance(client, dict) else None
    return (isinstance(team, str) and path == f"/teams/{team}") or (
        isinstance(cid, str) and path == f"/clients/{cid}"
    )


def _short(args: Any) -> str:
    text = json.dumps(args, ensure_ascii=True, default=str)
    return text if len(text) < 300 else text[:300] + f"… ({len(text)} chars)"


def _check_well_formed(name: str, args: Any, result: CallToolResult, tool: Any) -> str:
    where = f"{name}({_short(args)})"
    assert result.content, f"{where}: no content"
    first = result.content[0]
    assert isinstance(first, TextContent) and isinstance(first.text, str), f"{where}: {first!r}"
    text = first.text
    assert "Traceback" not in text, f"{where}: a traceback leaked: {text[:500]}"
    if result.is_error:
        # A ToolError reads "Error executing tool <name>: <what happened>"; an unexpected exception
        # gives the bare prefix with nothing to act on.
        assert text.startswith(f"Error executing tool {name}: ") and len(text) > len(name) + 30, (
            f"{where}: not a mapped tool error (an unexpected exception?): {text!r}"
        )
    else:
        assert isinstance(result.structured_content, dict), f"{where}: no structured content"
        if tool.output_schema:
            jsonschema.validate(result.structured_content, tool.output_schema)
    return text


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    if os.environ.get("GIGSTACK_FUZZ_STATS") and int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        pytest.fail("GIGSTACK_FUZZ_STATS counts the calls of one process: run it with -n0 (no xdist workers)")
    with SandboxServer(API_KEY) as sb, anyio.from_thread.start_blocking_portal("asyncio") as portal:
        server = build_server(make_settings(sb, max_retries=0))
        with portal.wrap_async_context_manager(Client(server, mode="legacy")) as client:
            listed = portal.call(client.list_tools)
            h = Harness(sb, portal, client, {t.name: t for t in listed.tools})
            yield h
            h.alive()  # after everything the fuzz threw at it, the server still answers
        if path := os.environ.get("GIGSTACK_FUZZ_STATS"):
            with open(path, "w") as f:
                json.dump(h.stats.dump(), f, indent=1)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


# -- (a) arguments drawn from the advertised inputSchema ------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_schema_drawn_arguments(harness: Harness, name: str) -> None:
    schema = harness.tools[name].input_schema

    @FUZZ
    @given(args=from_schema(schema))
    def run(args: dict[str, Any]) -> None:
        harness.call(name, args, "schema")

    run()


# -- (b) mutations of a base call ------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every value in the arguments with its location (dict keys and list indexes)."""
    if prefix:
        yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _set(args: dict[str, Any], where: tuple, value: Any) -> None:
    node = args
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value


def _delete(args: dict[str, Any], where: tuple) -> None:
    node = args
    for key in where[:-1]:
        node = node[key]
    del node[where[-1]]


def _typed_slots(args: dict[str, Any], schema: dict[str, Any], kinds: tuple[type, ...]) -> list[tuple]:
    """Where a value of these types sits (or may sit, for absent top-level properties)."""
    slots = [w for w, v in _paths(args) if isinstance(v, kinds) and not isinstance(v, bool)]
    json_type = "string" if str in kinds else "number"
    for prop, sub in schema.get("properties", {}).items():
        types = sub.get("type")
        types = types if isinstance(types, list) else [types]
        if prop not in args and (json_type in types or (json_type == "number" and "integer" in types)):
            slots.append((prop,))
    return slots


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], schema: dict[str, Any]) -> tuple[str, Any]:
    args = json.loads(json.dumps(base))
    kind = draw(
        st.sampled_from(["wrong_type", "missing", "unknown_field", "huge", "unicode", "amount", "injection"])
    )
    slots_any = [w for w, _ in _paths(args)]
    if kind == "wrong_type" and slots_any:
        _set(args, draw(st.sampled_from(slots_any)), draw(st.sampled_from(WRONG)))
        return kind, args
    if kind == "missing":
        required = [r for r in schema.get("required", []) if r in args]
        if required:
            del args[draw(st.sampled_from(required))]
            return kind, args
        if slots_any:
            _delete(args, draw(st.sampled_from(slots_any)))
            return kind, args
    if kind in ("huge", "unicode", "injection"):
        slots = _typed_slots(args, schema, (str,))
        if slots:
            value = (
                HUGE if kind == "huge"
                else draw(st.sampled_from(ODD_UNICODE)) if kind == "unicode"
                else draw(st.sampled_from(INJECTIONS))
            )  # fmt: skip
            _set(args, draw(st.sampled_from(slots)), value)
            return kind, args
    if kind == "amount":
        slots = _typed_slots(args, schema, (int, float))
        if slots:
            _set(args, draw(st.sampled_from(slots)), draw(st.sampled_from(NUMBERS)))
            return kind, args
    nested = [w for w, v in _paths(args) if isinstance(v, dict)]
    where = draw(st.sampled_from([(), *nested]))
    node = args
    for key in where:
        node = node[key]
    node[draw(st.sampled_from(["zz_unknown", "__proto__", "Id", "confirm"]))] = 1
    return "unknown_field", args


@pytest.mark.parametrize("name", sorted(SPECS))
def test_mutated_arguments(harness: Harness, name: str) -> None:
    schema = harness.tools[name].input_schema
    base = harness.base(name)
    drawn = from_schema(schema) if not base else st.just(base)

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        start = data.draw(st.one_of(st.just(base), drawn) if base else drawn)
        kind, args = data.draw(mutated(start, schema))
        harness.stats.mutations[kind] += 1
        harness.call(name, args, kind)

    run()


# -- targeted: ids that try to leave their URL ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.params.path_fields), ids=str)
@pytest.mark.parametrize("evil", INJECTIONS[:11])
def test_ids_cannot_leave_their_url(harness: Harness, name: str, evil: str) -> None:
    """Every id that goes into a URL, set to a traversal or query-smuggling string: refused before
    anything is sent, or sent as one opaque segment; never another object's URL."""
    spec = SPECS[name]
    for f in spec.params.path_fields:
        args = harness.base(name)
        args[f] = evil
        harness.call(name, args, "path-injection")
    harness.stats.mutations["path-injection"] += len(spec.params.path_fields)


def test_body_ids_and_team_cannot_leave_their_url(harness: Harness) -> None:
    """The ids the guard rails look up (the receiver's, the team's) are just as confined."""
    for evil in INJECTIONS[:11]:
        args = {**SEEDS["create_income_invoice"], "client": {"id": evil}}
        harness.call("create_income_invoice", args, "path-injection")
        args = {**SEEDS["create_income_invoice"], "team": evil}
        harness.call("create_income_invoice", args, "path-injection")
        harness.call("list_clients", {"team": evil}, "path-injection")
        harness.stats.mutations["path-injection"] += 3


# -- below the tools: malformed JSON-RPC over HTTP ---------------------------------------------------------

HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _answers(response: Any) -> list[dict[str, Any]]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [
            json.loads(line[5:])
            for line in response.text.splitlines()
            if line.startswith("data:") and line[5:].strip()
        ]
    return [response.json()] if response.content else []


def test_malformed_jsonrpc_over_http() -> None:
    """Requests no SDK client would send (arguments that are not an object, missing params, unknown
    methods, broken JSON, wrong versions, oversized bodies) get a JSON-RPC error or a 4xx, never a 5xx
    or a hang, reach no endpoint, and the server keeps serving the session."""
    import httpx

    from gigstack_mcp.http import BackgroundServer, TokenMap, build_http_app

    with SandboxServer(API_KEY) as sb:
        settings = make_settings(sb, mcp_rate_limit="off")
        with (
            BackgroundServer(build_http_app(settings, TokenMap()), settings) as srv,
            httpx.Client(base_url=srv.url, headers=HEADERS, timeout=30) as http,
        ):
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "f", "version": "1"},
                },
            }
            opened = http.post("/mcp", json=init)
            session = {
                "mcp-session-id": opened.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-11-25",
            }
            http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)

            def call(i: int, params: Any) -> dict[str, Any]:
                return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}

            bodies: list[Any] = [
                call(2, {"name": "get_client", "arguments": []}),
                call(3, {"name": "get_client", "arguments": "client_acme"}),
                call(4, {"name": "get_client", "arguments": 3}),
                call(5, {"name": "get_client"}),
                call(6, {"arguments": {"id": "client_acme"}}),
                call(7, None),
                call(8, []),
                call(9, {"name": ["get_client"], "arguments": {}}),
                call(10, {"name": "get_client", "arguments": {"id": {"$ne": None}}}),
                {"jsonrpc": "2.0", "id": 11, "method": "tools/nonsense"},
                {"jsonrpc": "1.0", "id": 12, "method": "tools/list"},
                {"id": 13, "method": "tools/list"},
                {"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"},
                [],
                [call(14, {"name": "get_client", "arguments": {"id": "client_acme"}})] * 3,
                3,
                "tools/list",
                None,
            ]
            raw: list[bytes] = [
                b"{",
                b"",
                b"\xff\xfe",
                b'{"jsonrpc": "2.0", "id": 15, "method": "tools/list"',
                b"x" * (2 * 1024 * 1024),
            ]
            responses = [http.post("/mcp", json=b, headers=session) for b in bodies]
            responses += [http.post("/mcp", content=b, headers=session) for b in raw]
            for body, r in zip([*bodies, *raw], responses, strict=True):
                shown = repr(body)[:120]
                assert r.status_code < 500, (shown, r.status_code, r.text[:300])
                if r.status_code == 200:
                    for answer in _answers(r):
                        assert "error" in answer or answer.get("result", {}).get("isError"), (shown, answer)
            assert not sb.state.api_requests(), sb.state.requests  # none of it reached gigstack

            ok = http.post(
                "/mcp",
                json=call(16, {"name": "get_client", "arguments": {"id": "client_acme"}}),
                headers=session,
            )
            (answer,) = _answers(ok)
            assert answer["result"]["structuredContent"]["id"] == "client_acme"


# -- what the fuzz found, pinned -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "create_income_invoice",
        "create_egress_invoice",
        "register_payment",
        "request_payment",
        "create_receipt",
    ],
)
@pytest.mark.parametrize("field_, value", [("quantity", 1e308), ("unit_price", 1e300), ("quantity", 1e-300)])
def test_absurd_amounts_are_refused_not_crashed(
    harness: Harness, name: str, field_: str, value: float
) -> None:
    """quantity 1e308 used to crash the sandbox's Decimal maths (HTTP 500, retried as if gigstack were
    down); now cfdi_math refuses it as out of range, a 400 that names the item."""
    args = harness.base(name)
    args["items"][0][field_] = value
    harness.call(name, args, "amount")


@pytest.mark.parametrize(
    "name, args",
    [
        ("list_clients", {"query": "\ud800"}),  # used to crash encoding the query string
        ("list_clients", {"query": "a" * 100_000}),  # used to crash: URL too long for httpx
        ("create_client", {**SEEDS["create_client"], "name": "Lucía \ud800"}),  # the JSON body
        ("get_client", {"id": "a" * 100_000}),
        ("get_client", {"id": "\x1f"}),  # a control character in the URL
    ],
    ids=["surrogate-query", "huge-query", "surrogate-body", "huge-id", "control-id"],
)
def test_unsendable_text_is_a_tool_error_and_nothing_is_sent(harness: Harness, name: str, args: dict) -> None:
    """These used to raise inside httpx (an unexpected exception: the bare "Error executing tool x");
    now the client refuses them before sending, with a sentence that says what to fix."""
    harness.call(name, args, "unsendable")
    result = harness.portal.call(harness.client.call_tool, name, args)
    text = result.content[0].text
    assert result.is_error and any(m in text for m in ("Not sent", "validation error", "nothing was sent")), (
        text
    )
    assert not harness.sandbox.state.api_requests()
