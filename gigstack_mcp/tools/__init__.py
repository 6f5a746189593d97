"""All toolsets, in the order they are listed. Each module declares one toolset (services: two)."""

from .catalogs import catalogs
from .clients import clients
from .invoices import invoices
from .payments import payments
from .receipts import receipts
from .services import service_admin, services
from .teams import teams
from .users import users

TOOLSETS = [clients, services, service_admin, invoices, payments, receipts, catalogs, teams, users]

__all__ = ["TOOLSETS"]
