"""Sandbox /services (to be implemented: see issue 3)."""

from ._core import Resource

resource = Resource("services")
