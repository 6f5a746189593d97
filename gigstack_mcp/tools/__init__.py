"""All toolsets, in the order they are listed. Each module declares one toolset."""

from .clients import clients

TOOLSETS = [clients]

__all__ = ["TOOLSETS"]
