"""All toolsets, in the order they are listed. Each module declares one toolset (clients and services: two)."""

from .catalogs import catalogs
from .clients import clients, portal
from .invoices import invoices
from .payments import payments
from .receipts import receipts
from .services import service_admin, services
from .teams import teams
from .users import users

TOOLSETS = [clients, portal, services, service_admin, invoices, payments, receipts, catalogs, teams, users]

__all__ = ["TOOLSETS"]
