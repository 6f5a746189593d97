"""One uvicorn server in a daemon thread, on a loopback socket bound up front (so the port, and with it the
app's base URL, is known before the app is built). Used by the embedded sandbox and by the HTTP
transport's BackgroundServer (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

START_TIMEOUT = 10.0  # seconds uvicorn may take to accept connections


def bind_loopback(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound TCP socket (port 0: a free one) for uvicorn to serve on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: without it keep-alive requests wait ~40 ms on delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


class ServerThread:
    """`config`'s app served on `sock` from a daemon thread named `name`; `what` names it in errors."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, what: str, name: str) -> None:
        self.server = uvicorn.Server(config)
        self.sock, self.what, self.name = sock, what, name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Returns once uvicorn accepts connections; RuntimeError if it stops or takes too long."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.what} did not start")
            time.sleep(0.005)

    def shutdown(self) -> None:
        """What SIGTERM does: stop accepting, let in-flight requests finish, then run the lifespan exit."""
        self.server.should_exit = True

    def join(self, timeout: float | None = None) -> bool:
        """True once the thread has ended (or never started)."""
        if self._thread:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self.shutdown()
        self.join(timeout)
        self.sock.close()
