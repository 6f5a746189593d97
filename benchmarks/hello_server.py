"""The baseline for the start-up benchmark: a hello-world MCPServer on the same SDK, one tool, stdio."""

from mcp.server import MCPServer

server = MCPServer("hello")


@server.tool(title="Say hello")
def hello(name: str = "world") -> str:
    """Say hello to someone."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    server.run("stdio")
