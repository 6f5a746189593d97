"""Reading gigstack's answers into result models, leniently. Missing and extra fields are normal (gigstack
adds fields, and some endpoints answer `{}` or only a message), so result models require nothing; a
value of the wrong type is left out (not the whole answer), and what was left out is said. A response
never fails the way bad arguments do: its problems are about gigstack's answer, not the call."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
_PASSES = 5  # each pass drops every value the last validation named; nested problems need a few


class Unreadable(Exception):
    """gigstack answered success, but nothing of the answer fits the result model."""


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "data"


def _drop(data: Any, loc: tuple[Any, ...], doomed: list[tuple[list[Any], int]]) -> str | None:
    """Remove the value an error points at (or the nearest object holding it); returns its path.
    Loc parts that do not index the data (pydantic's union tags) are skipped."""
    parent: Any = None
    key: Any = None
    node, path = data, []
    for part in loc:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            continue
        parent, key, node = node, part, node[part]
        path.append(part)
    if parent is None:
        return None
    if isinstance(parent, list):
        doomed.append((parent, key))
    else:
        parent.pop(key, None)
    return _where(tuple(path))


def read(model: type[M], data: Any) -> tuple[M, list[str]]:
    """`data` as `model`, and the paths of the values left out because they did not fit."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors()
    data = copy_json(data)  # so dropping never edits the input
    dropped: list[str] = []
    for _ in range(_PASSES):
        doomed: list[tuple[list[Any], int]] = []
        for err in errors:
            path = _drop(data, tuple(err["loc"]), doomed)
            if path is None:
                raise Unreadable(f"{_where(tuple(err['loc']))}: {err['msg']}")
            dropped.append(path)
        for items, index in sorted(doomed, key=lambda d: d[1], reverse=True):
            if index < len(items):
                del items[index]
        try:
            return model.model_validate(data), list(dict.fromkeys(dropped))
        except ValidationError as exc:
            errors = exc.errors()
    raise Unreadable("; ".join(f"{_where(tuple(e['loc']))}: {e['msg']}" for e in errors[:3]))


def copy_json(data: Any) -> Any:
    """A copy of JSON's containers, nested objects and arrays included (values are immutable scalars):
    a fraction of copy.deepcopy's cost."""
    if isinstance(data, dict):
        return {k: copy_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [copy_json(v) for v in data]
    return data
