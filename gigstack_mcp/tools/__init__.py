"""All toolsets, in the order they are listed. Each module declares one toolset."""

from .catalogs import catalogs
from .clients import clients
from .invoices import invoices
from .services import services
from .teams import teams
from .users import users

TOOLSETS = [clients, services, invoices, catalogs, teams, users]

__all__ = ["TOOLSETS"]
