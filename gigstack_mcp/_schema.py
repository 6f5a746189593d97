"""Compact JSON Schemas: every tool's schema is paid for in every chat, so we send only what helps a
model fill arguments right (types, enums, patterns, bounds, required, descriptions) and drop what
pydantic adds for humans (titles, null branches, null defaults) or what restates something else.
Long patterns and nested shapes are advertised shorter by the params models themselves
(`models._base.shape`/`text`); the models still validate everything server-side."""

from __future__ import annotations

from typing import Any


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


def compact(schema: Any, _root: bool = True) -> Any:
    """Input schemas: keep every constraint the params model advertises; drop titles, null branches,
    null defaults, `additionalProperties: false` (the server still refuses unknown arguments and keys,
    with a tool error naming them, so a typo never silently drops a field of a tax document; saying
    so in every schema cost ~30 characters a tool), and whatever only restates a default or another
    keyword (`_redundant`). Definitions used once are written in place (a `$ref` and its `$defs`
    entry cost more than the definition itself)."""
    if _root and isinstance(schema, dict) and "$defs" in schema:
        schema = _inline_defs(schema)
    if isinstance(schema, list):
        return [compact(s, False) for s in schema]
    if not isinstance(schema, dict):
        return schema
    node = _strip_null(schema)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key == "additionalProperties" and value is False:
            continue
        if _redundant(node, key, value):
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: compact(sub, False) for name, sub in value.items()}
        else:
            out[key] = compact(value, False)
    return out


_JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}


def _redundant(node: dict[str, Any], key: str, value: Any) -> bool:
    """Keywords that tell a model nothing the rest of the node does not (validation is the params
    model's, server-side, and unchanged):
    - `type` next to an `enum` whose values all have that type (the enum already says it);
    - `additionalProperties: true` (the JSON Schema default);
    - `format: email` (the field is named email; pydantic's EmailStr still checks it);
    - bounds no sensible value breaks: amounts and counts above 0 or 1, ids and lists not empty, text
      up to 100+ characters. A model never sends an empty id or a negative price; if it did, the
      params model refuses it with an error naming the field, and nothing is sent."""
    if key == "type" and isinstance(value, str) and isinstance(node.get("enum"), list):
        kind = _JSON_TYPES.get(value)
        return kind is not None and all(
            isinstance(e, kind) and not (kind is not bool and isinstance(e, bool)) for e in node["enum"]
        )
    if key == "additionalProperties" and value is True:
        return True
    if key in ("minimum", "exclusiveMinimum", "minLength", "minItems") and value in (0, 1):
        return not isinstance(value, bool)
    if key == "maxLength" and isinstance(value, int) and value >= 100:
        return True
    return key == "format" and value == "email"


def _refs(node: Any, counts: dict[str, int]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            counts[ref[8:]] = counts.get(ref[8:], 0) + 1
        for value in node.values():
            _refs(value, counts)
    elif isinstance(node, list):
        for value in node:
            _refs(value, counts)


def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace each `$ref` to a definition used exactly once by the definition (merged with the
    referencing node's own keys, e.g. its description); definitions used more often stay in `$defs`."""
    defs: dict[str, Any] = schema["$defs"]
    counts: dict[str, int] = {}
    _refs({k: v for k, v in schema.items() if k != "$defs"}, counts)
    for sub in defs.values():
        _refs(sub, counts)
    once = {name for name, n in counts.items() if n == 1 and name in defs}

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
    """Output schemas: `{"type": "object"}` only. Every result is an object (structured content plus
    its text twin), and the model reads its fields in the result itself; listing them in the schema
    cost ~7,000 characters of the default tools/list in every chat (a fifth of the budget) for a
    preview the model rarely needs. A description names a result field when the model must act on it
    (a short_url, a url, a confirmation_token)."""
    if schema is None:
        return None
    return {"type": "object"}
