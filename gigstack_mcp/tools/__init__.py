"""All toolsets, in the order they are listed. Each module declares one toolset."""

from .catalogs import catalogs
from .clients import clients
from .teams import teams
from .users import users

TOOLSETS = [clients, catalogs, teams, users]

__all__ = ["TOOLSETS"]
