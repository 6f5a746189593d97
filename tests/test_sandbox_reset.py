"""The shared test sandbox: `reset()` gives every test the state a new server would have, on the same
port, and `wait_idle()` lets a request slowed by a fault finish before that."""

from __future__ import annotations

import threading
import time

import httpx

from gigstack_mcp.sandbox.examples import new_client

from .conftest import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}"}
TEAM = "team_sandbox"


def test_reset_is_a_fresh_seeded_sandbox_on_the_same_port(sandbox):
    port, seeded = sandbox.port, sandbox.state.store.count(TEAM)
    with httpx.Client(base_url=sandbox.url, headers=AUTH, timeout=10) as http:
        assert http.post("/clients", json=new_client()).status_code == 201
        assert http.delete("/clients/client_acme").status_code == 200
    sandbox.state.faults.add({"kind": "status", "status": 503, "times": None})
    with httpx.Client(base_url=sandbox.url, headers=AUTH, timeout=10) as http:
        assert http.get("/clients").status_code == 503
    assert sandbox.state.faults.injected and sandbox.state.requests

    sandbox.reset()
    assert sandbox.port == port and sandbox.state.store.count(TEAM) == seeded
    assert not sandbox.state.faults.rules and not sandbox.state.faults.injected
    assert sandbox.state.requests == []
    with httpx.Client(base_url=sandbox.url, headers=AUTH, timeout=10) as http:
        ids = {c["id"] for c in http.get("/clients").json()["data"]}
    assert ids == {"client_acme", "client_juan_perez", "client_publico_general"}


def test_wait_idle_returns_once_a_slow_write_has_landed(sandbox):
    sandbox.state.faults.add({"kind": "latency", "delay": 0.3, "method": "POST", "path": "^/clients$"})

    def slow_create() -> None:
        with httpx.Client(base_url=sandbox.url, headers=AUTH, timeout=10) as http:
            http.post("/clients", json=new_client())

    thread = threading.Thread(target=slow_create)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not sandbox.state.in_flight:  # the request has arrived and is being held back
            assert time.monotonic() < deadline, "the request never reached the sandbox"
            time.sleep(0.002)
        sandbox.wait_idle()
        assert sandbox.state.in_flight == 0
        assert sandbox.state.store.count(TEAM, "clients") == 4  # the write landed before wait_idle returned
    finally:
        thread.join(10)
    sandbox.reset()
    assert sandbox.state.store.count(TEAM, "clients") == 3
