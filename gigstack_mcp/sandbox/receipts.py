"""Sandbox /receipts (to be implemented: see issue 3)."""

from typing import Any

from ._core import Ctx, Resource

resource = Resource("receipts")


def stamp_pending_for_client(ctx: Ctx, client: dict[str, Any]) -> dict[str, Any]:
    return {"stamped": 0, "failed": 0, "remaining": 0, "results": []}
