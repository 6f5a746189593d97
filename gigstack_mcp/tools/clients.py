"""Clients toolset: find, read, create, update, validate and delete receptores."""

from __future__ import annotations

from ..context import Api
from ..guards import wiring
from ..models import quoted, shown
from ..models.clients import (
    Client,
    ClientIdParams,
    ClientPage,
    CreateClientParams,
    Deleted,
    FiscalValidation,
    ListClientsParams,
    PortalToken,
    PortalTokenParams,
    UpdateClientParams,
)
from ..registry import GuardViolation, Toolset

clients = Toolset("clients", "Clients (receptores): find, create, update, validate fiscal data.")


@clients.read("Find clients")
async def list_clients(api: Api, p: ListClientsParams) -> ClientPage:
    """List clients, newest first, or search them (`query`: name, RFC, email). Search before creating
    one."""
    if p.query_text:
        return await api.list("/clients/search", ClientPage, p, q=p.query_text)
    return await api.list("/clients", ClientPage, p)


@clients.read("Get a client")
async def get_client(api: Api, p: ClientIdParams) -> Client:
    """Get a client's fiscal data by id."""
    return await api.get(f"/clients/{p.id}", Client)


async def _guard_create(api: Api, p: CreateClientParams) -> list[str]:
    return wiring.rules("check_client", p.body())


async def _guard_update(api: Api, p: UpdateClientParams) -> list[str]:
    current = await wiring.receiver(api, {"id": p.id})
    wiring.forget(api, p.id)  # the tool is about to change it
    return wiring.rules("check_client", p.body(), current)


@clients.write("Create a client", guard=_guard_create)
async def create_client(api: Api, p: CreateClientParams) -> Client:
    """Create a client. To invoice it, ask for RFC, legal_name (as on the constancia fiscal), tax_system
    and address.zip. Search first."""
    return await api.post("/clients", Client, json=p.body())


@clients.write("Update a client", idempotent=True, guard=_guard_update)
async def update_client(api: Api, p: UpdateClientParams) -> Client:
    """Change only the given fields of a client."""
    body = p.body()
    if not body:
        raise GuardViolation("give at least one field to change")
    return await api.put(f"/clients/{p.id}", Client, json=body)


async def _preview_delete(api: Api, p: ClientIdParams) -> str:
    c = await api.get(f"/clients/{p.id}", Client)
    return (
        f"Delete client {shown(c.id)}: {quoted(c.legal_name or c.name)} (RFC {shown(c.tax_id)}, "
        f"{shown(c.email, 'no email')})."
    )


@clients.destructive("Delete a client", preview=_preview_delete)
async def delete_client(api: Api, p: ClientIdParams) -> Deleted:
    """Delete a client (its invoices stay)."""
    return await api.delete(f"/clients/{p.id}", Deleted)


@clients.write("Validate client fiscal data", idempotent=True)
async def validate_client_fiscal_info(api: Api, p: ClientIdParams) -> FiscalValidation:
    """Check a client's RFC, name, regimen and zip before invoicing; says what to fix."""
    return await api.post(f"/clients/validate/{p.id}", FiscalValidation)


@clients.write("Client portal link")
async def create_client_portal_token(api: Api, p: PortalTokenParams) -> PortalToken:
    """A link (valid ~5 days) where a client, by id or email, downloads its invoices."""
    if not (p.id or p.email):
        raise GuardViolation("give the client's id or email")
    return await api.post("/clients/customerportal", PortalToken, json=p.body())
