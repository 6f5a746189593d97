"""Per-process state (settings, the gigstack client, the embedded sandbox) and `Api`, the small facade
a tool declaration talks to: typed get/list/post/put/delete scoped to the call's team."""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, SecretStr

from .guards.refusal import GuardViolation, refuse
from .guards.spent import spent_store
from .models import ListParams, Page, ToolParams, Unreadable, quoted, read
from .settings import Settings

if TYPE_CHECKING:  # imported when the first call makes the client (keeps start-up light)
    from .client import GigstackClient
    from .shared_redis import SharedRedis

log = logging.getLogger("gigstack_mcp")
M = TypeVar("M", bound=BaseModel)
# The embedded sandbox's key, random per process: with the public `sk_test_sandbox` anyone on the host
# could use the sandbox behind an HTTP server's tokens (the standalone `gigstack-mcp sandbox` keeps
# its --api-key).
SANDBOX_KEY = "sk_test_" + secrets.token_urlsafe(24)


class TeamNotAllowed(GuardViolation, ToolError):
    """A caller pinned to some teams named another one (or an account-wide resource): refused before
    anything is sent to gigstack (rule TEAM-NOT-ALLOWED). Also a ToolError: wherever it is not handled
    as a refusal, the SDK still answers it as an anticipated tool error."""

    def __init__(self, message: str, value: str | None = None, allowed: str = "") -> None:
        rule = refuse("TEAM-NOT-ALLOWED", message, field="team", value=value, allowed=allowed)
        super().__init__(str(rule), rule.refused)


@dataclass(frozen=True)
class Credentials:
    """The HTTP caller's gigstack credentials, which its MCP token maps to server-side (never the token).
    `api_key=None` means the server's own key (or the embedded sandbox). `teams` is the boundary: the
    only teams this caller may act on, or None for whatever its key reaches (an unpinned mapping)."""

    api_key: SecretStr | None = None
    team: str | None = None
    teams: frozenset[str] | None = None

    @classmethod
    def mapped(cls, key: str, spec: str) -> Credentials:
        """From a mapping's `api_key` and `team` parts: `team` pins the caller to that team, `teamA|teamB`
        to those (the first is the default), `teamA|*` or `*` lets it name any team."""
        names = [t.strip() for t in spec.split("|") if t.strip()]
        teams = [t for t in names if t != "*"]
        return cls(
            api_key=SecretStr(key) if key else None,
            team=teams[0] if teams else None,
            teams=frozenset(teams) if teams and "*" not in names else None,
        )

    def check_team(self, team: str | None) -> None:
        if self.teams is not None and team not in self.teams:
            raise TeamNotAllowed(
                f"Refused (403): this MCP token may only act on team {_listed(self.teams)}, not {team!r}. "
                "Nothing was sent to gigstack; leave `team` out to use the token's own team.",
                team,
                _listed(self.teams),
            )

    def check_path(self, path: str) -> None:
        """Team-pinned callers reach only their teams' `/teams/{id}` resources, never account-wide ones
        (the account's team list, new teams, its users), which belong to every tenant of the key."""
        if self.teams is None:
            return
        parts = path.strip("/").split("/")
        if (
            "." in parts or ".." in parts
        ):  # ids are single segments already (models/_base.py); belt and braces
            raise TeamNotAllowed(f"Refused (403): {path!r} is not a plain resource path.", path)
        if parts[0] == "teams" and len(parts) > 1 and parts[1] != "integrations":
            self.check_team(parts[1])
        elif parts[0] in ("teams", "users"):
            raise TeamNotAllowed(
                f"Refused (403): this MCP token may only act on team {_listed(self.teams)}; "
                f"{'/'.join(parts[:1])} is account-wide (all teams of the key). Nothing was sent to gigstack.",
                parts[0],
                _listed(self.teams),
            )


def _listed(teams: frozenset[str]) -> str:
    return " or ".join(repr(t) for t in sorted(teams))


# Set per request by the HTTP transport's auth middleware; unset (None) for stdio and unauthenticated use.
current_credentials: ContextVar[Credentials | None] = ContextVar("gigstack_credentials", default=None)

# The reads of one phase of a call that confirms (registry/pipeline.py opens it): the target a
# destructive call previews, guards and acts on is read once to ask and once again before acting.
# Keyed by (team, path, query); holds the answer or the NotFoundError. Any write empties it.
phase_reads: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("gigstack_phase_reads", default=None)


class AppState:
    """Lives for the server's lifetime. The client and sandbox start lazily on the first tool call, so
    `tools/list` answers as fast as a bare SDK server."""

    def __init__(self, settings: Settings, oversight: Any, redis: SharedRedis | None = None) -> None:
        self.settings = settings
        # Fiscal data the guard rails need, briefly cached (guards/wiring.py).
        self.fiscal_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._client: GigstackClient | None = None
        self._keyed: dict[str, GigstackClient] = {}  # per caller API key (HTTP tokens map)
        self.sandbox: Any = None
        self._lock = anyio.Lock()
        secret = (
            settings.confirm_secret.get_secret_value() if settings.confirm_secret else secrets.token_hex(32)
        )
        self.confirm_secret = secret.encode()
        self.redis = redis  # the server's one Redis client, shared with the policy's counters
        self.spent = spent_store(redis)  # spent confirmations: this process, or Redis for replicas
        # oversight.Oversight: spend policy and audit trail, made by server.py (oversight imports this
        # module, so this one names it only in words)
        self.oversight = oversight

    async def client(self, creds: Credentials | None = None) -> GigstackClient:
        """The server's own client, or (HTTP) one pooled client per distinct caller API key."""
        if creds is not None and creds.api_key is not None:
            key = creds.api_key.get_secret_value()
            if key not in self._keyed:
                async with self._lock:
                    if key not in self._keyed:
                        self._keyed[key] = self._make_client(creds.api_key)
            return self._keyed[key]
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def default_team(self, creds: Credentials | None = None) -> str | None:
        """The team a call uses when it names none: the caller's mapped team, else the server's."""
        if creds is None:
            return self.settings.team
        return creds.team or (None if creds.api_key is not None else self.settings.team)

    def team_for(self, creds: Credentials | None, requested: str | None) -> str | None:
        """The team a tool call acts on: the one it names, else the default; refused (TeamNotAllowed)
        outside the caller's boundary. Every tool call resolves its team here."""
        team = requested or self.default_team(creds)
        if creds is not None:
            creds.check_team(team)
        return team

    def _make_client(self, caller_key: SecretStr | None = None) -> GigstackClient:
        from .client import GigstackClient

        s = self.settings
        api_key: SecretStr | str
        if caller_key is not None:  # a caller's own key always goes to GIGSTACK_API_URL
            api_url, api_key = s.api_url, caller_key
        elif s.use_sandbox():
            from .sandbox.server import SandboxServer

            self.sandbox = SandboxServer(SANDBOX_KEY, db=s.sandbox_db).start()
            api_url, api_key = self.sandbox.url, SANDBOX_KEY
            print(f"gigstack-mcp: no API key set, using the embedded sandbox at {api_url}", file=sys.stderr)
        else:
            api_url, api_key = s.api_url, s.api_key  # type: ignore[assignment]
        return GigstackClient(
            api_key,
            api_url,
            team=None if caller_key is not None else s.team,
            timeout=s.timeout,
            connect_timeout=s.connect_timeout,
            max_retries=s.max_retries,
            retry_wait_initial=s.retry_wait_initial,
            retry_wait_max=s.retry_wait_max,
            retry_timeout=s.retry_timeout,
            max_response_bytes=s.max_response_bytes,
            max_json_depth=s.max_json_depth,
            idempotency_window=s.idempotency_window,
            file_hosts=s.file_hosts.split(","),
        )

    async def aclose(self) -> None:
        await self.oversight.aclose()
        if self._client is not None:
            await self._client.aclose()
        for keyed in self._keyed.values():
            await keyed.aclose()
        await self.spent.aclose()
        if self.redis is not None:  # after both of its users
            await self.redis.aclose()
        if self.sandbox is not None:
            self.sandbox.stop()


class Api:
    """What a tool uses to call gigstack: typed results, the call's team applied everywhere. The
    gigstack client (and, with no key, the embedded sandbox) starts on first use, so tools that never
    call gigstack (catalog look-ups, local previews) never start it."""

    def __init__(
        self, state: AppState, team: str | None, ctx: Any = None, creds: Credentials | None = None
    ) -> None:
        self.state, self.team, self.ctx, self.creds = state, team, ctx, creds
        self._client: GigstackClient | None = None
        self.notes: list[str] = []  # what of gigstack's answers could not be read; the result says it
        self.wrote = False  # a write request went out: an unreadable answer means "may have been applied"

    async def gigstack(self) -> GigstackClient:
        if self._client is None:
            self._client = await self.state.client(self.creds)
        return self._client

    def result(self, model: type[M], data: Any, *, method: str = "GET", path: str = "") -> M:
        """The one place gigstack's data becomes a result model: leniently (models/_read.py), noting
        what was left out. Nothing readable at all is an error that says whether a write went out."""
        try:
            value, dropped = read(model, data)
        except Unreadable as exc:
            from .client import ResponseRefused

            err = ResponseRefused(
                f"gigstack's answer to {method} {path} could not be read ({exc})", method=method, path=path
            )
            err.outcome = "unknown" if method != "GET" else "not_applied"
            raise err from None
        if dropped:
            shown = ", ".join(dropped[:8]) + (f" and {len(dropped) - 8} more" if len(dropped) > 8 else "")
            self.notes.append(f"left out of gigstack's answer (not in the expected form): {shown}")
        return value

    def _data(self, envelope: dict[str, Any], model: type[M], method: str, path: str) -> M:
        data = envelope.get("data")
        if not isinstance(data, dict):
            said = f" ({quoted(envelope.get('message'))})" if envelope.get("message") else ""
            if data is None or data == []:
                self.notes.append(f"gigstack answered without details{said}")
            else:
                self.notes.append(
                    f"gigstack's answer data is a JSON {type(data).__name__}, not an object{said}"
                )
            data = {}
        return self.result(model, data, method=method, path=path)

    def _scoped(self, path: str) -> str:
        if self.creds is not None:
            self.creds.check_path(path)
        return path

    async def get(self, path: str, model: type[M], *, query: dict[str, Any] | None = None) -> M:
        path = self._scoped(path)
        return self._data(await self._read(path, query), model, "GET", path)

    async def _read(self, path: str, query: dict[str, Any] | None) -> Any:
        """GET once per phase (`phase_reads`): the preview, the guard and the tool see the same answer."""
        reads = phase_reads.get()
        if reads is None:
            return await (await self.gigstack()).get(path, query=query, team=self.team)
        from .client import NotFoundError

        key = (self.team, path, repr(sorted((query or {}).items())))
        if key not in reads:
            try:
                reads[key] = await (await self.gigstack()).get(path, query=query, team=self.team)
            except NotFoundError as exc:
                reads[key] = exc
        hit = reads[key]
        if isinstance(hit, NotFoundError):
            raise hit
        return hit

    def _writing(self) -> None:
        self.wrote = True
        reads = phase_reads.get()
        if reads:
            reads.clear()  # what was read before a write is not the state after it

    async def list(self, path: str, model: type[M], params: ToolParams | None = None, **query: Any) -> M:
        """A gigstack list page into a `Page` model (data, has_more, next, total_results)."""
        q = {**(params.query() if params else {}), **{k: v for k, v in query.items() if v is not None}}
        envelope = await (await self.gigstack()).get(self._scoped(path), query=q, team=self.team)
        page = {k: envelope[k] for k in ("data", "has_more", "total_results") if envelope.get(k) is not None}
        cursor = params.next_cursor(envelope) if isinstance(params, ListParams) else envelope.get("next")
        if cursor is not None:  # a metadata-filtered list's is a page number (models/_base.py)
            page["next"] = cursor
        return self.result(model, page, path=path)

    async def post(
        self, path: str, model: type[M], *, json: Any = None, idempotency_key: str | None = None
    ) -> M:
        client = await self.gigstack()
        self._writing()
        path = self._scoped(path)
        env = await client.post(path, json=json, team=self.team, idempotency_key=idempotency_key)
        return self._data(env, model, "POST", path)

    async def put(self, path: str, model: type[M], *, json: Any = None) -> M:
        client = await self.gigstack()
        self._writing()
        path = self._scoped(path)
        return self._data(await client.put(path, json=json, team=self.team), model, "PUT", path)

    async def delete(self, path: str, model: type[M], *, json: Any = None) -> M:
        client = await self.gigstack()
        self._writing()
        path = self._scoped(path)
        return self._data(await client.delete(path, json=json, team=self.team), model, "DELETE", path)

    async def collect(
        self,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        max_items: int = 500,
        progress: Callable[[int], Awaitable[None]] | None = None,
    ) -> list[dict]:
        """Every item of a list, up to `max_items` (for searches the API has no filter for);
        `progress(count)` after each page of 100 and at the end."""
        client = await self.gigstack()
        items: list[dict] = []
        async for item in client.paginate(
            self._scoped(path), query=query, team=self.team, max_items=max_items
        ):
            items.append(item)
            if progress is not None and len(items) % 100 == 0:
                await progress(len(items))
        if progress is not None and (not items or len(items) % 100):  # the end, once (also for none)
            await progress(len(items))
        return items


__all__ = ["Api", "AppState", "Credentials", "Page", "TeamNotAllowed", "current_credentials"]
