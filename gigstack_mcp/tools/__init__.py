"""All toolsets, in the order they are listed. Each module declares one toolset."""

from .catalogs import catalogs
from .clients import clients

TOOLSETS = [clients, catalogs]

__all__ = ["TOOLSETS"]
