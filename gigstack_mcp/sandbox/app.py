"""The embedded gigstack API v2 sandbox as an ASGI app: auth, `?team=` scoping, contract validation,
idempotent creates, fault injection and a request log, around the resource modules' operations."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..sat import IDEMPOTENCY_KEY_RE
from . import _contract
from ._core import DEFAULT_TEAM, ApiError, Ctx, Operation, Resource, invalid
from ._faults import FaultInjector, FaultMiddleware, FaultRule
from ._seed import seed_store
from ._store import Store

log = logging.getLogger("gigstack_mcp.sandbox")

MAX_LOG = 10_000


def resources() -> Sequence[Resource]:
    """Every resource module's operation table (imported here so the app has one list)."""
    from . import clients, invoices, payments, receipts, services, teams, users

    return [m.resource for m in (clients, services, invoices, payments, receipts, teams, users)]


@dataclass
class SandboxState:
    store: Store
    api_keys: dict[str, str]  # API key -> its own team
    base_url: str = ""  # e.g. http://127.0.0.1:8765 (set once the port is known)
    faults: FaultInjector = field(default_factory=FaultInjector)
    requests: list[dict[str, Any]] = field(default_factory=list)
    files_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    in_flight: int = 0  # requests being served (a slow, faulted one outlives its client's timeout)
    # Tests turn this on to check every answer against the contract's declared responses.
    check_responses: bool = False
    response_problems: list[str] = field(default_factory=list)

    def seed(self) -> None:
        """Demo data for every key's team not in the store yet: the team, clients and services, then
        each resource's own (in resource order, so invoices exist before payments)."""
        seeds = [r.seed for r in resources() if r.seed is not None]
        for team in sorted(set(self.api_keys.values())):
            if seed_store(self.store, team):
                for seed in seeds:
                    seed(self.store, team)

    def reset(self) -> None:
        """Back to a fresh, seeded in-memory sandbox (tests share one server): no faults, an empty log."""
        old, self.store = self.store, Store()
        old.close()
        self.faults.reset()
        self.requests.clear()
        self.check_responses = False
        self.response_problems.clear()
        self.seed()

    def record(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)
        if len(self.requests) > MAX_LOG:
            del self.requests[: len(self.requests) - MAX_LOG]

    def api_requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """Logged /v2 requests, optionally by method and a regex on the path."""
        return [
            r
            for r in self.requests
            if (method is None or r["method"] == method) and (path is None or re.search(path, r["path"]))
        ]

    def allowed_teams(self, home: str) -> set[str]:
        return {home} | {t["id"] for _, t in self.store.all(home, "teams")}


def _auth(state: SandboxState, request: Request) -> str:
    raw = request.headers.get("authorization", "")
    key = raw[7:].strip() if raw.lower().startswith("bearer ") else raw.strip()
    home = state.api_keys.get(key) if key else None
    if home is None:
        raise ApiError(401, "Unauthorized", "Missing or invalid API key", "unauthorized")
    return home


def _endpoint(state: SandboxState, op: Operation):
    async def checked(request: Request) -> Response:
        response = await endpoint(request)
        if state.check_responses:
            body = json.loads(response.body) if isinstance(response, JSONResponse) else None
            if problem := _contract.response_error(op.method, op.path, response.status_code, body):
                state.response_problems.append(problem)
        return response

    async def endpoint(request: Request) -> Response:
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path[3:],
            "operation": op.operation_id,
            "query": dict(request.query_params),
            # which TCP connection carried it: shows whether a client keeps its connections alive
            "peer": f"{request.client.host}:{request.client.port}" if request.client else None,
        }
        try:
            home = _auth(state, request)
            team = request.query_params.get("team") or home
            if team not in state.allowed_teams(home):
                raise ApiError(
                    403, "Forbidden", f"gigstack Connect is not enabled for team {team}", "forbidden"
                )
            raw = await request.body()
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise invalid("body is not valid JSON") from None
            elif request.method in {"POST", "PUT"}:
                body = {}
            entry["body"] = body
            if body is not None and (problem := _contract.body_error(op.method, op.path, body)):
                raise invalid(problem)
            key = request.headers.get("idempotency-key")
            if key is not None and not IDEMPOTENCY_KEY_RE.match(key):
                raise invalid(
                    "Idempotency-Key must be 8-128 characters of A-Z a-z 0-9 . _ : -", "Invalid header"
                )
            if isinstance(body, dict) and isinstance(body.get("idempotency_key"), str):
                key = body["idempotency_key"]
            entry["idempotency_key"] = key
            scope = f"{request.method} {request.url.path}"
            if request.method == "POST" and key:
                replay = state.store.idem_get(team, scope, key)
                if replay is not None:
                    entry["replayed"], entry["status"] = True, replay[0]
                    return JSONResponse(replay[1], replay[0])
            ctx = Ctx(request=request, store=state.store, team=team, body=body, sandbox=state, account=home)
            response = op.handler(ctx)
            if not isinstance(response, Response):
                response = await response
            if (
                request.method == "POST"
                and key
                and response.status_code < 300
                and isinstance(response, JSONResponse)
            ):
                state.store.idem_put(team, scope, key, response.status_code, json.loads(response.body))
            entry["status"] = response.status_code
            return response
        except ApiError as exc:
            entry["status"] = exc.status
            return exc.response()
        except Exception:
            log.exception("sandbox handler crashed on %s %s", request.method, request.url.path)
            entry["status"] = 500
            return JSONResponse(
                {
                    "message": "Internal server error",
                    "error": "unexpected error",
                    "code": "internal_server_error",
                },
                500,
            )
        finally:
            state.record(entry)

    return checked


def _admin_routes(state: SandboxState) -> list[Route]:
    async def faults(request: Request) -> Response:
        try:
            _auth(state, request)
        except ApiError as exc:
            return exc.response()
        if request.method == "DELETE":
            state.faults.clear()
        elif request.method == "POST":
            payload = await request.json()
            state.faults.add(*[FaultRule.model_validate(r) for r in payload.get("rules", [])])
        return JSONResponse(
            {"rules": [r.model_dump() for r in state.faults.rules], "injected": state.faults.injected}
        )

    async def request_log(request: Request) -> Response:
        try:
            _auth(state, request)
        except ApiError as exc:
            return exc.response()
        if request.method == "DELETE":
            state.requests.clear()
        return JSONResponse({"requests": state.requests[-1000:], "total": len(state.requests)})

    return [
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/requests", request_log, methods=["GET", "DELETE"]),
    ]


def create_app(
    api_key: str | dict[str, str] = "sk_test_sandbox",
    *,
    db: str | None = None,
    seed: bool = True,
    base_url: str = "",
    fault_seed: int | None = None,
) -> Starlette:
    """Build the sandbox. `api_key` is one key (bound to `team_sandbox`) or a map key -> team."""
    keys = {api_key: DEFAULT_TEAM} if isinstance(api_key, str) else dict(api_key)
    state = SandboxState(
        store=Store(db), api_keys=keys, base_url=base_url, faults=FaultInjector(seed=fault_seed)
    )
    if seed:
        state.seed()
    operations = [op for resource in resources() for op in resource.operations]
    if problems := _contract.unserved((op.method, op.path, op.operation_id) for op in operations):
        raise RuntimeError("the sandbox does not serve its contract: " + "; ".join(problems))
    routes = [Route(f"/v2{op.path}", _endpoint(state, op), methods=[op.method]) for op in operations]
    from . import payments, receipts
    from .files import file_routes

    # Customer-facing pages behind the links the API returns (payment short_url, receipt url).
    routes += file_routes(state) + payments.page_routes(state) + receipts.page_routes(state)
    routes += _admin_routes(state)
    app = Starlette(
        routes=_ordered(routes), exception_handlers={404: _route_not_found, 405: _method_not_allowed}
    )
    app.state.sandbox = state
    wrapped = _Counted(FaultMiddleware(app, state.faults), state)
    wrapped.state = app.state  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]


class _Counted:
    """Keeps `state.in_flight`, so a caller can wait until the sandbox is idle."""

    def __init__(self, app: Any, state: SandboxState) -> None:
        self.app, self.sandbox = app, state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.sandbox.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.sandbox.in_flight -= 1


async def _route_not_found(request: Request, exc: Exception) -> Response:
    return ApiError(
        404, "Not found", f"No endpoint {request.method} {request.url.path}", "resource_not_found"
    ).response()


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return ApiError(
        405,
        "Method not allowed",
        f"{request.method} is not allowed on {request.url.path}",
        "operation_not_allowed",
    ).response()


def _ordered(routes: list[Route]) -> list[Route]:
    """Literal segments before parameters, so /teams/integrations wins over /teams/{id}."""
    return sorted(routes, key=lambda r: r.path.count("{"))
