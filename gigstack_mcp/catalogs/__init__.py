"""SAT CFDI 4.0 catalogs shipped as package data (see data/SOURCE.md). Loaded lazily, once."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> dict[str, Any]:
    """The raw catalog file `data/<name>.json` ({catalog, source, rows, ...})."""
    return json.loads(resources.files(__name__).joinpath(f"data/{name}.json").read_text("utf-8"))


@cache
def codes(name: str) -> frozenset[str]:
    return frozenset(row["code"] for row in load(name)["rows"])
