"""All toolsets, in the order they are listed. Each module declares one toolset (clients and services: two)."""

from ..registry import Toolset, ToolSpec, by_name
from ..registry import select as _select
from .catalogs import catalogs
from .clients import clients, portal
from .invoices import invoices
from .payments import payment_links, payments
from .receipts import receipts
from .services import service_admin, services
from .teams import teams
from .users import users

TOOLSETS = [
    clients,
    portal,
    services,
    service_admin,
    invoices,
    payments,
    payment_links,
    receipts,
    catalogs,
    teams,
    users,
]


def all_toolsets() -> dict[str, Toolset]:
    """The table by toolset name."""
    return by_name(TOOLSETS)


def select(
    toolsets: str = "default", tools: str = "", exclude_tools: str = "", read_only: bool = False
) -> list[ToolSpec]:
    """`registry.select` over this table."""
    return _select(TOOLSETS, toolsets, tools, exclude_tools, read_only)


__all__ = ["TOOLSETS", "all_toolsets", "select"]
