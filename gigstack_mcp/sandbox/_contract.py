"""The API contract (an OpenAPI 3.1 document written from shared/gigstack-api.md, kept as
contract/base.json plus one contract/<resource>.json per resource) and the jsonschema validation of
request bodies against it. The client tests check outgoing requests against the same document."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_URI = "urn:gigstack-contract"


@cache
def contract() -> dict[str, Any]:
    """The merged document: base.json, then every other contract/*.json's paths and schemas."""
    folder = resources.files("gigstack_mcp.sandbox").joinpath("contract")
    doc = json.loads(folder.joinpath("base.json").read_text("utf-8"))
    for part in sorted(folder.iterdir(), key=lambda f: f.name):
        if part.name.endswith(".json") and part.name != "base.json":
            fragment = json.loads(part.read_text("utf-8"))
            doc["paths"].update(fragment.get("paths", {}))
            doc["components"]["schemas"].update(fragment.get("components", {}).get("schemas", {}))
    return doc


@cache
def _registry() -> Registry:
    return Registry().with_resource(
        _URI, Resource.from_contents(contract(), default_specification=DRAFT202012)
    )


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@cache
def body_validator(method: str, path: str) -> Draft202012Validator | None:
    """Validator for the JSON body of `method path` (path as in the contract, e.g. /clients/{id})."""
    op = contract().get("paths", {}).get(path, {}).get(method.lower())
    if not op or "requestBody" not in op:
        return None
    ref = f"{_URI}#/" + _pointer(
        "paths", path, method.lower(), "requestBody", "content", "application/json", "schema"
    )
    return Draft202012Validator({"$ref": ref}, registry=_registry())


def body_error(method: str, path: str, body: Any) -> str | None:
    """None when the body fits the contract, else one readable message naming the field."""
    validator = body_validator(method, path)
    if validator is None:
        return None
    error = best_match(validator.iter_errors(body))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def operations() -> list[tuple[str, str, str]]:
    """(METHOD, path, operationId) for every operation in the contract."""
    out = []
    for path, item in contract().get("paths", {}).items():
        for method, op in item.items():
            if method in {"get", "post", "put", "delete", "patch"}:
                out.append((method.upper(), path, op.get("operationId", "")))
    return out
