"""The "SDK floor" for the per-call stdio benchmark (benchmarks/run.py): the smallest stdio server on the
same SDK that does the work of `list_clients` (one GET to the sandbox with httpx, its JSON back as the
result). No guards, no models, no retries: what any server on this SDK and httpx costs per call.

    GIGSTACK_API_URL=http://127.0.0.1:PORT/v2 GIGSTACK_API_KEY=sk_... python benchmarks/hello_stdio_server.py
"""

import os
from typing import Any

import httpx
from mcp.server import MCPServer

server = MCPServer("hello-stdio")
http = httpx.AsyncClient(
    base_url=os.environ["GIGSTACK_API_URL"],
    headers={"Authorization": f"Bearer {os.environ['GIGSTACK_API_KEY']}"},
)


@server.tool()
async def list_clients(limit: int = 10) -> dict[str, Any]:
    """List clients."""
    response = await http.get("/clients", params={"limit": limit})
    response.raise_for_status()
    return response.json()


if __name__ == "__main__":
    server.run("stdio")
