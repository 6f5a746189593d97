"""Compact JSON Schemas: every tool's schema is paid for in every chat, so we send only what helps a
model fill arguments right (types, enums, patterns, bounds, required, descriptions) and drop what
pydantic adds for humans (titles, null branches, null defaults)."""

from __future__ import annotations

from typing import Any

_KEEP_OUTPUT = {"type", "enum", "items", "properties", "required", "description", "const"}


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


def compact(schema: Any) -> Any:
    """Input schemas: keep every constraint, drop titles, null branches and null defaults."""
    if isinstance(schema, list):
        return [compact(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    node = _strip_null(schema)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: compact(sub) for name, sub in value.items()}
        else:
            out[key] = compact(value)
    return out


def _inline(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if "$ref" in schema:
        target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    schema = _strip_null(schema)
    out = {k: v for k, v in schema.items() if k in _KEEP_OUTPUT}
    if depth >= 2 and out.get("type") == "object":
        return {"type": "object"}
    if "properties" in out:
        out["properties"] = {k: _inline(v, defs, depth + 1) for k, v in out["properties"].items()}
        for v in out["properties"].values():
            v.pop("description", None)
    if "items" in out and isinstance(out["items"], dict):
        out["items"] = _inline(out["items"], defs, depth + 1)
    if "anyOf" in schema and "type" not in out:
        return {}
    return out


def compact_output(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """Output schemas: the shape two levels deep (field names and types), no $defs."""
    if schema is None:
        return None
    defs = schema.get("$defs", {})
    out = _inline(schema, defs, 0)
    out["type"] = "object"
    return out
