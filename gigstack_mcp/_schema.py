"""Published JSON Schemas: what the params models validate, in the one dialect OpenAI strict mode
(through openai-agents), Gemini (through google-genai) and Anthropic all accept
(tests/test_provider_schemas.py checks each with its real adapter), and no longer than that:

- every nested object declares its properties (no free-form objects: maps go as {key, value} pairs);
- every enum says `type: string`; every optional property accepts null ("not given"): `type: [T,
  "null"]`, or `anyOf: [{enum}, {type: null}]` for an enum (Gemini refuses null inside an enum);
- no `default`, `title`, `additionalProperties`, `format` (but date-time), length bounds or exclusive
  bounds: some provider refuses or drops each (google-genai crashes on `additionalProperties: false`,
  googleapis/python-genai#2476; Gemini takes no `format: email|date`; OpenAI strict no `minLength`).
  openai-agents closes every object itself; the server refuses unknown keys at every depth anyway;
- definitions are written in place (no `$ref`: several clients resolve none).

Long patterns are advertised as a word and an example (`models._base.text`); the params models still
validate every field and constraint server-side."""

from __future__ import annotations

from typing import Any

# Keywords no provider's adapter refuses, drops or misreads; anything else is left out.
_DROPPED = {
    "title",
    "default",
    "additionalProperties",
    "minLength",
    "maxLength",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "examples",
}


def _strip_null(node: dict[str, Any]) -> dict[str, Any]:
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list):
            rest = [b for b in branches if b != {"type": "null"}]
            if len(rest) == 1 and len(rest) < len(branches):
                merged = {k: v for k, v in node.items() if k != key}
                return {**rest[0], **merged}
            if len(rest) < len(branches):
                node = {**node, key: rest}
    return node


def nullable(node: dict[str, Any]) -> dict[str, Any]:
    """The same schema, accepting null too (an optional property: null means "not given")."""
    kind = node.get("type")
    if "enum" in node:  # the description inside the branch: google-genai drops one beside anyOf
        return {"anyOf": [{**node, "type": kind or "string"}, {"type": "null"}]}
    if isinstance(node.get("anyOf"), list):
        if {"type": "null"} in node["anyOf"]:
            return node
        return {**node, "anyOf": [*node["anyOf"], {"type": "null"}]}
    if isinstance(kind, str):
        return {**node, "type": [kind, "null"]}
    if isinstance(kind, list) and "null" not in kind:
        return {**node, "type": [*kind, "null"]}
    return node


def compact(schema: Any, _root: bool = True) -> Any:
    """Input schemas: keep every constraint the params model advertises that all providers take;
    optional properties nullable; trivial bounds and what only restates something left out
    (`_redundant`)."""
    if _root and isinstance(schema, dict) and "$defs" in schema:
        schema = _inline_defs(schema)
    if isinstance(schema, list):
        return [compact(s, False) for s in schema]
    if not isinstance(schema, dict):
        return schema
    node = _strip_null(schema)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or _redundant(node, key, value):
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: compact(sub, False) for name, sub in value.items()}
        else:
            out[key] = compact(value, False)
    if "enum" in out and "type" not in out:  # Gemini refuses an enum without its type
        out["type"] = "string"
    if isinstance(out.get("properties"), dict):
        required = set(out.get("required", []))
        out["properties"] = {
            name: sub if name in required else nullable(sub) for name, sub in out["properties"].items()
        }
    return out


_JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}


def _redundant(node: dict[str, Any], key: str, value: Any) -> bool:
    """Keywords that tell a model nothing the rest of the node does not (validation is the params
    model's, server-side, and unchanged):
    - `format` but date-time (the field is named email; Gemini takes no other string format);
    - bounds no sensible value breaks: amounts and counts at least 0 or 1, lists not empty. A model
      never sends a negative price; if it did, the params model refuses it with an error naming the
      field, and nothing is sent."""
    if key in ("minimum", "minItems") and value in (0, 1):
        return not isinstance(value, bool)
    return key == "format" and value != "date-time"


def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace each `$ref` by its definition (merged with the referencing node's own keys, e.g. its
    description); only a recursive definition stays in `$defs`."""
    defs: dict[str, Any] = schema["$defs"]
    once = set(defs)

    def put(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [put(n, seen) for n in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref[8:] if isinstance(ref, str) and ref.startswith("#/$defs/") else None
        if name in once and name not in seen:  # `seen`: a recursive definition stays a $ref
            rest = {k: put(v, seen) for k, v in node.items() if k != "$ref"}
            return {**put(defs[name], seen | {name}), **rest}
        return {k: put(v, seen) for k, v in node.items()}

    out = {k: put(v, frozenset()) for k, v in schema.items() if k != "$defs"}
    kept = {name: put(sub, frozenset({name})) for name, sub in defs.items() if name not in once}
    if kept:
        out["$defs"] = kept
    return out


def compact_output(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """Output schemas: none. Every result is an object (structured content plus its text twin) and the
    model reads its fields in the result itself; a real schema per tool cost ~7,000 characters of the
    default tools/list in every chat, and an empty `{"type": "object"}` says nothing (issue 13)."""
    return None
