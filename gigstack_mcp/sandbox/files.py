"""Invoice files (PDF and CFDI XML) served by the sandbox itself (to be implemented)."""

from typing import Any

from starlette.routing import Route


def file_routes(state: Any) -> list[Route]:
    return []
