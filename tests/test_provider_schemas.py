"""Every tool's published input schema through the adapters users run (issue 13):

- OpenAI strict mode, as openai-agents converts an MCP tool (`MCPUtil.to_function_tool` with strict
  schemas): every tool converts, and every optional argument stays optional (nullable), at any depth;
- Gemini, as google-genai converts an MCP tool (`_mcp_utils.mcp_to_gemini_tool`, what
  `generate_content` runs on an MCP session): no enum without `type: string`, no object without
  properties, and nothing dropped (properties, required, enums, types, bounds, patterns);
- Anthropic: a valid draft 2020-12 schema with `type: object` at the top and no top-level anyOf/oneOf/allOf.

Plus the dialect itself (only keywords all three take, no `default`, nullable optionals, no outputSchema
that says nothing) and the documented example payloads validating against the schemas."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from jsonschema import Draft202012Validator
from mcp import Client

from gigstack_mcp.sandbox.examples import income_invoice, item, new_client
from gigstack_mcp.server import build_server
from gigstack_mcp.settings import Settings

logging.getLogger("google_genai").setLevel(logging.WARNING)  # its "JSON Schema is now supported" note


def _listed() -> dict[str, Any]:
    """The tools as a real in-memory MCP session lists them (mcp.types.Tool, what adapters receive)."""

    async def go() -> dict[str, Any]:
        async with Client(build_server(Settings(sandbox=True, toolsets="all"))) as client:
            return {t.name: t for t in (await client.list_tools()).tools}

    return anyio.run(go)


TOOLS = _listed()
# Only keywords OpenAI strict mode, Gemini and Anthropic all take without refusing or dropping them.
VOCABULARY = {
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "anyOf",
    "description",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
}


@pytest.fixture(params=sorted(TOOLS))
def tool(request) -> Any:
    return TOOLS[request.param]


def _nodes(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema with its path."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{where}[]")
    for i, sub in enumerate(schema.get("anyOf") or []):
        yield from _nodes(sub, f"{where}|{i}")


def _optional(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path of the object, property name, its schema) for every optional property at any depth."""
    for where, node in _nodes(schema):
        required = set(node.get("required", []))
        for name, sub in (node.get("properties") or {}).items():
            if name not in required:
                yield where, name, sub


def _accepts_null(sub: dict[str, Any]) -> bool:
    return Draft202012Validator(sub).is_valid(None)


# -- the dialect -----------------------------------------------------------------------------------


def test_only_keywords_every_provider_takes(tool):
    for where, node in _nodes(tool.input_schema):
        extra = set(node) - VOCABULARY
        assert not extra, f"{tool.name}{where}: {sorted(extra)}"


def test_every_enum_is_typed_and_every_object_declares_its_properties(tool):
    for where, node in _nodes(tool.input_schema):
        kinds = node.get("type") if isinstance(node.get("type"), list) else [node.get("type")]
        if "enum" in node:
            assert node.get("type") == "string", f"{tool.name}{where}: untyped enum"
            assert all(isinstance(v, str) for v in node["enum"]), f"{tool.name}{where}"
        if "object" in kinds:
            assert node.get("properties"), f"{tool.name}{where}: object without properties"
        if "array" in kinds:
            assert isinstance(node.get("items"), dict), f"{tool.name}{where}: array without items"
        assert node.get("type") or node.get("anyOf"), f"{tool.name}{where}: no type"


def test_every_optional_argument_takes_null(tool):
    for where, name, sub in _optional(tool.input_schema):
        assert _accepts_null(sub), f"{tool.name}{where}.{name} refuses null"
    for name in tool.input_schema.get("required", []):
        assert not _accepts_null(tool.input_schema["properties"][name]), f"{tool.name}.{name}"


def test_no_output_schema_that_says_nothing(tool):
    """Results carry their fields; an `outputSchema` is published only if it describes them."""
    assert tool.output_schema is None or tool.output_schema.get("properties"), tool.output_schema


# -- OpenAI strict mode (openai-agents) --------------------------------------------------------------


def test_openai_agents_strict_conversion(tool):
    from agents.mcp import MCPServerStdio, MCPUtil  # ~1 s of imports: only where these tests run

    server = MCPServerStdio(params={"command": "true"}, name="gigstack")  # never started: no I/O here
    converted = MCPUtil.to_function_tool(tool, server, convert_schemas_to_strict=True)
    assert converted.strict_json_schema, f"{tool.name} fell back to a non-strict schema"
    strict = converted.params_json_schema
    optional = {(where, name) for where, name, _ in _optional(tool.input_schema)}
    for where, node in _nodes(strict):
        props = node.get("properties") or {}
        assert set(node.get("required", [])) == set(props), f"{tool.name}{where}: strict needs all required"
    # Everything strict mode made required that was optional takes null: "not given" stays possible.
    for where, name, sub in _strict_props(strict):
        if (where, name) in optional:
            assert _accepts_null(sub), f"{tool.name}{where}.{name}: optional made required-without-null"
    assert optional <= {(where, name) for where, name, _ in _strict_props(strict)}, "properties dropped"


def _strict_props(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for where, node in _nodes(schema):
        for name, sub in (node.get("properties") or {}).items():
            yield where, name, sub


# -- Gemini (google-genai) ---------------------------------------------------------------------------


def _gemini(tool: Any) -> dict[str, Any]:
    from google.genai import _mcp_utils  # imported where used, like agents above

    declaration = _mcp_utils.mcp_to_gemini_tool(tool).function_declarations[0]
    assert declaration.name == tool.name
    return declaration.parameters.model_dump(exclude_none=True)


def _same(ours: dict[str, Any], theirs: dict[str, Any], where: str) -> None:
    """Gemini's Schema keeps everything our node says."""
    from google.genai import types

    if "anyOf" in ours:  # a nullable enum: Gemini folds {enum} | {null} into one nullable node
        branches = [b for b in ours["anyOf"] if b != {"type": "null"}]
        assert len(branches) == 1, where
        assert theirs.get("nullable") is True, f"{where}: null dropped"
        ours = {**{k: v for k, v in ours.items() if k != "anyOf"}, **branches[0]}
    kinds = ours["type"] if isinstance(ours["type"], list) else [ours["type"]]
    kind = next(k for k in kinds if k != "null")
    assert theirs.get("type") == types.Type(kind.upper()), f"{where}: type {theirs.get('type')} for {kind}"
    if "null" in kinds:
        assert theirs.get("nullable") is True, f"{where}: null dropped"
    if "enum" in ours:
        assert theirs.get("type") == types.Type.STRING and theirs.get("enum") == ours["enum"], where
    for key, theirs_key in [
        ("description", "description"),
        ("pattern", "pattern"),
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("minItems", "min_items"),
        ("maxItems", "max_items"),
    ]:
        if key in ours:
            assert theirs.get(theirs_key) == ours[key], f"{where}: {key} dropped"
    if kind == "object":
        assert theirs.get("properties"), f"{where}: object without properties"
        assert set(theirs["properties"]) == set(ours["properties"]), f"{where}: properties dropped"
        assert set(theirs.get("required", [])) == set(ours.get("required", [])), f"{where}: required"
        for name, sub in ours["properties"].items():
            _same(sub, theirs["properties"][name], f"{where}.{name}")
    if kind == "array":
        _same(ours["items"], theirs["items"], f"{where}[]")


def test_google_genai_conversion_keeps_everything(tool):
    _same(tool.input_schema, _gemini(tool), tool.name)


# -- Anthropic -------------------------------------------------------------------------------------------


def test_anthropic_top_level_object(tool):
    schema = tool.input_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert not {"anyOf", "oneOf", "allOf"} & set(schema)


# -- documented examples ---------------------------------------------------------------------------


EXAMPLES = [
    ("create_income_invoice", income_invoice()),
    ("create_income_invoice", income_invoice() | {"preview": True}),
    ("create_egress_invoice", {"client": {"id": "client_acme"}, "items": [item()], "use": "G02"}),
    ("create_client", new_client()),
    ("update_client", {"id": "client_acme", "address": {"zip": "01000"}}),
    ("create_service", {k: v for k, v in item().items() if k != "quantity"}),
    ("request_payment", {"client": {"id": "client_acme"}, "items": [item()]}),
    ("register_payment", {"client": {"id": "client_acme"}, "items": [item()], "payment_form": "03"}),
    ("create_receipt", {"items": [item()], "payment_form": "01", "metadata": ["channel=web"]}),
]


@pytest.mark.parametrize("name, args", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_documented_examples_validate(name, args):
    Draft202012Validator(TOOLS[name].input_schema).validate(args)
