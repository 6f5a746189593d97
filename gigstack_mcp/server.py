"""Builds the MCP server: the selected tools, catalogs as resources, prompts and instructions."""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import MCPError
from mcp.server import MCPServer
from mcp.server.request_state import RequestStateSecurity
from mcp_types import INVALID_PARAMS

from . import __version__
from .context import AppState
from .guards.confirm import request_state_security
from .settings import Settings
from .toolinfo import load_tools

INSTRUCTIONS = (
    "gigstack-mcp issues and manages Mexican CFDI 4.0 invoices through gigstack. Invoices are legal tax "
    "documents: look things up before creating (find the client with list_clients, the service with "
    "list_services), check SAT codes with lookup_catalog instead of guessing, and show the user a summary "
    "and get a yes before creating an invoice or payment. Cancelling, refunding, deleting and removing "
    "always need the user's explicit confirmation: show the preview the tool returns and never invent a "
    "confirmation_token. Quote gigstack's error messages to the user. Every tool takes an optional `team` "
    "(a gigstack Connect team id) and may return `warnings` to pass on to the user."
)


class GigstackServer(MCPServer):
    """MCPServer whose prompt errors are JSON-RPC invalid-params errors that name what is allowed
    (the SDK answers an unknown prompt or a bad argument with an internal error)."""

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Any = None
    ) -> Any:
        known = [p.name for p in await self.list_prompts()]
        if name not in known:
            raise MCPError(INVALID_PARAMS, f"Unknown prompt {name!r}; available: {', '.join(known)}")
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as exc:
            cause: BaseException = exc
            while cause.__cause__ is not None:  # the pydantic error that says which argument
                cause = cause.__cause__
            raise MCPError(INVALID_PARAMS, f"Invalid arguments for prompt {name!r}: {cause}") from None


def build_server(settings: Settings | None = None) -> MCPServer:
    settings = settings or Settings()
    tools = load_tools(settings)  # the selection; from the start-up cache when fresh

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[AppState]:
        from .oversight import Oversight
        from .shared_redis import SharedRedis

        redis = SharedRedis.from_settings(settings)  # one client: spent confirmations and policy caps
        state = AppState(settings, Oversight(settings, redis=redis), redis=redis)
        try:
            yield state
        finally:
            await state.aclose()

    server = GigstackServer(
        "gigstack",
        title="gigstack CFDI invoicing",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://gigstack.io",
        lifespan=lifespan,
        tools=tools,
        request_state_security=_request_state_security(settings),
    )
    _register_extras(server, settings)
    return server


def _request_state_security(settings: Settings) -> RequestStateSecurity:
    """Seal 2026-07-28 elicitation state with a key derived from GIGSTACK_CONFIRM_SECRET, so a retry
    that lands on another replica still resumes (without a secret: a per-process key), with the codec
    that lets the tool body spend the answered state once (guards/confirm.py)."""
    if settings.confirm_secret is None:
        key = os.urandom(32)
    else:
        secret = settings.confirm_secret.get_secret_value().encode()
        key = hmac.new(secret, b"gigstack-mcp request state", "sha256").digest()
    return request_state_security(key)


def _register_extras(server: MCPServer, settings: Settings) -> None:
    """Catalog resources and prompts, when those modules provide a `register(server, settings)`."""
    import importlib

    for name in ("gigstack_mcp.catalogs.resources", "gigstack_mcp.prompts"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        register = getattr(module, "register", None)
        if register is not None:
            register(server, settings)
