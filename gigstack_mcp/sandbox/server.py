"""Run the sandbox: in a background thread on a free loopback port (in-process use, tests, the MCP
server with no API key), or standalone in the foreground (`gigstack-mcp sandbox`)."""

from __future__ import annotations

import time
from typing import Any

import uvicorn

from .._threaded import ServerThread, bind_loopback
from .app import SandboxState, create_app


class SandboxServer:
    """`with SandboxServer() as sb: sb.url` -> http://127.0.0.1:PORT/v2, served from a daemon thread."""

    def __init__(
        self,
        api_key: str | dict[str, str] = "sk_test_sandbox",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | None = None,
        seed: bool = True,
        fault_seed: int | None = None,
    ) -> None:
        self.api_key = api_key if isinstance(api_key, str) else next(iter(api_key))
        sock = bind_loopback(host, port)
        self.host, self.port = sock.getsockname()[:2]
        self.base_url = f"http://{self.host}:{self.port}"
        self.app = create_app(api_key, db=db, seed=seed, base_url=self.base_url, fault_seed=fault_seed)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._thread = ServerThread(config, sock, "the gigstack sandbox", "gigstack-sandbox")

    @property
    def url(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def state(self) -> SandboxState:
        return self.app.state.sandbox  # type: ignore[attr-defined]

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def wait_idle(self, timeout: float = 10) -> None:
        """Return once no request is being served: a request slowed by a latency fault runs on after
        its client gave up, and may still write."""
        deadline = time.monotonic() + timeout
        while self.state.in_flight:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sandbox is still serving {self.state.in_flight} request(s)")
            time.sleep(0.005)

    def reset(self) -> None:
        """A fresh seeded sandbox on the same port, once idle (for tests sharing one server)."""
        self.wait_idle()
        self.state.reset()

    def stop(self) -> None:
        self._thread.stop(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_forever(host: str, port: int, api_key: str, db: str | None) -> None:
    """Foreground server for `gigstack-mcp sandbox`."""
    base = f"http://{host}:{port}"
    app = create_app(api_key, db=db, base_url=base)
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")
