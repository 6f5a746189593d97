"""Sandbox /invoices (to be implemented: see issue 3)."""

from ._core import Resource

resource = Resource("invoices")
