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


def compact(schema: Any, _root: bool = True) -> Any:
    """Input schemas: keep every constraint, drop titles, null branches and null defaults, and
    `additionalProperties: false` below the root (the server still refuses unknown fields there)."""
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
        if key == "additionalProperties" and value is False and not _root:
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: compact(sub, False) for name, sub in value.items()}
        else:
            out[key] = compact(value, False)
    return out


def _shallow(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    schema = _strip_null(schema)
    kind = schema.get("type")
    if isinstance(kind, str):
        return {"type": kind}
    return {}


def compact_output(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """Output schemas: the top-level field names (types only for lists, which readers iterate). The
    values and the text block tell the rest; a deep output schema would cost context in every chat."""
    if schema is None:
        return None
    defs = schema.get("$defs", {})
    root = _strip_null(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}) if "$ref" in schema else schema)
    # `warnings` is on every result; the server instructions explain it once instead.
    props = {k: _shallow(v, defs) for k, v in root.get("properties", {}).items() if k != "warnings"}
    props = {k: v if v.get("type") == "array" else {} for k, v in props.items()}
    out: dict[str, Any] = {"type": "object", "properties": props}
    if root.get("required"):
        out["required"] = root["required"]
    return out
