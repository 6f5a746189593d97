"""The API contract (an OpenAPI 3.1 document written from shared/gigstack-api.md, kept as
contract/base.json plus one contract/<resource>.json per resource): the operations the sandbox serves
(checked when the app is built), the request bodies it accepts and the answers it gives (checked in
tests/test_contract.py). operationIds are the tool names where a tool exists."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
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


def _operation(method: str, path: str) -> dict[str, Any]:
    return contract().get("paths", {}).get(path, {}).get(method.lower()) or {}


@cache
def body_validator(method: str, path: str) -> Draft202012Validator | None:
    """Validator for the JSON body of `method path` (path as in the contract, e.g. /clients/{id})."""
    if "requestBody" not in _operation(method, path):
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


def query_parameters(method: str, path: str) -> list[str]:
    """The query parameter names an operation declares; `metadata.{key}` stands for every key."""
    shared = contract()["components"].get("parameters", {})
    names = []
    for param in _operation(method, path).get("parameters", []):
        if "$ref" in param:
            param = shared[param["$ref"].rsplit("/", 1)[-1]]
        if param.get("in") == "query":
            names.append(param["name"])
    return names


def undeclared_query(method: str, path: str, names: Iterable[str]) -> list[str]:
    """The query parameters among `names` that the operation does not declare (`team`, gigstack
    Connect's, is on every operation)."""
    declared = query_parameters(method, path)
    patterns = [re.compile(re.escape(d).replace(re.escape("{key}"), ".+") + "$") for d in declared]
    return sorted(n for n in names if n != "team" and not any(p.match(n) for p in patterns))


def declared() -> dict[str, tuple[str, str]]:
    """operationId -> (METHOD, path) for every operation in the contract."""
    return {
        op["operationId"]: (method.upper(), path)
        for path, item in contract().get("paths", {}).items()
        for method, op in item.items()
    }


def unserved(served: Iterable[tuple[str, str, str]]) -> list[str]:
    """How the sandbox's (METHOD, path, operationId) table differs from the contract ([] when it serves
    exactly the contract's operations)."""
    have = {op_id: (method, path) for method, path, op_id in served}
    want = declared()
    problems = [f"{op_id}: {have[op_id]} not in the contract" for op_id in have.keys() - want.keys()]
    problems += [f"{op_id}: {want[op_id]} not served by the sandbox" for op_id in want.keys() - have.keys()]
    problems += [
        f"{op_id}: the sandbox serves {have[op_id]}, the contract says {want[op_id]}"
        for op_id in have.keys() & want.keys()
        if have[op_id] != want[op_id]
    ]
    return sorted(problems)


@cache
def _response_validator(method: str, path: str, status: str) -> Draft202012Validator | None:
    responses = _operation(method, path).get("responses", {})
    key = status if status in responses else "default" if "default" in responses else None
    if key is None:
        return None
    ref = f"{_URI}#/" + _pointer(
        "paths", path, method.lower(), "responses", key, "content", "application/json", "schema"
    )
    return Draft202012Validator({"$ref": ref}, registry=_registry())


def response_error(method: str, path: str, status: int, body: Any) -> str | None:
    """None when an answer fits the response the contract declares for its status, else why not."""
    validator = _response_validator(method, path, str(status))
    if validator is None:
        return f"{method} {path}: no response declared for status {status}"
    error = best_match(validator.iter_errors(body))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{method} {path} {status}: {where + ': ' if where else ''}{error.message}"
