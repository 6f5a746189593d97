"""The baseline for the HTTP load benchmark: the thinnest Streamable HTTP server the SDK allows that does
the same work as `list_clients` (one GET to the sandbox, its JSON back as the result). No auth, no
guards, no access log: what any server on this SDK and httpx costs per call.

    python -m benchmarks.hello_http_server PORT SANDBOX_URL API_KEY
"""

import sys
from typing import Any

import httpx
import uvicorn
from mcp.server import MCPServer

port, sandbox, api_key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = MCPServer("hello-http")
http = httpx.AsyncClient(base_url=sandbox, headers={"Authorization": f"Bearer {api_key}"})


@server.tool()
async def list_clients(limit: int = 5) -> dict[str, Any]:
    """List clients."""
    response = await http.get("/clients", params={"limit": limit})
    response.raise_for_status()
    return response.json()


if __name__ == "__main__":
    app = server.streamable_http_app(streamable_http_path="/mcp")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)
