"""Services toolset: the catalog of products/services that invoice items can reference by id."""

from __future__ import annotations

from ..context import Api
from ..models import quoted, shown
from ..models.services import (
    CreateServiceParams,
    ListServicesParams,
    Service,
    ServiceDeleted,
    ServiceIdParams,
    ServicePage,
    UpdateServiceParams,
)
from ..registry import Toolset, refuse

services = Toolset("services", "Services (catalog): prices, SAT product/unit keys and taxes for items.")
# Changing the catalog is an administrator's job, off by default: every default tool is paid for in every
# chat, and an assistant that invoices only needs to read the catalog.
service_admin = Toolset("service_admin", "Create, update and delete catalog services.")


@services.read("List services")
async def list_services(api: Api, p: ListServicesParams) -> ServicePage:
    """List catalog services; invoice items can use one by id."""
    return await api.list("/services", ServicePage, p)


@services.read("Get a service")
async def get_service(api: Api, p: ServiceIdParams) -> Service:
    """Get one service by id."""
    return await api.get(f"/services/{p.id}", Service)


@service_admin.write("Create a service")
async def create_service(api: Api, p: CreateServiceParams) -> Service:
    """Add a catalog service. Ask for its SAT product_key, unit_key and taxes (usually IVA 16%)."""
    return await api.post("/services", Service, json=p.body())


@service_admin.write("Update a service", idempotent=True)
async def update_service(api: Api, p: UpdateServiceParams) -> Service:
    """Change only the given fields of a service."""
    body = p.body()
    if not body:
        raise refuse("ARGS-NO-CHANGE", "give at least one field to change")
    return await api.put(f"/services/{p.id}", Service, json=body)


async def _preview_delete(api: Api, p: ServiceIdParams) -> str:
    s = await api.get(f"/services/{p.id}", Service)
    return (
        f"Delete service {shown(s.id)}: {quoted(s.description)} at {s.unit_price or 0:,.2f} per unit "
        f"(sku {shown(s.sku)})."
    )


@service_admin.destructive("Delete a service", preview=_preview_delete)
async def delete_service(api: Api, p: ServiceIdParams) -> ServiceDeleted:
    """Delete a catalog service (invoices keep their items)."""
    return await api.delete(f"/services/{p.id}", ServiceDeleted)
