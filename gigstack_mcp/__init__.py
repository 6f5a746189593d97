"""gigstack-mcp: an MCP server for CFDI 4.0 invoicing through the gigstack API v2."""

__version__ = "0.1.0"
