"""What the HTTP transport answers when it refuses: a bad setting at start-up (exit 2) and the JSON error
body of a refused request."""

from __future__ import annotations

import math

from starlette.responses import JSONResponse, Response


class HttpConfigError(ValueError):
    """A bad HTTP transport setting: start-up stops with this message (exit 2)."""


def error_response(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status, headers=headers)


def retry_after(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}
