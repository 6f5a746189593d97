"""Spend policy: what an assistant may do with money, per caller, decided before anything is sent.

A policy file (TOML) has a `[defaults]` table and optional `[principals."<principal>"]` tables that
override it (a principal is what the logs name: `tok_…` for a static token, `oauth_…` for OAuth, `local`
for stdio). Each table may hold:

    tools = { "kind:read" = "allow", request_payment = "allow", "*" = "deny" }  # or "confirm"
    money = { max_invoice_mxn = 50000, max_payment_mxn = 5000, max_refund_mxn = 0, confirm_above_mxn = 10000 }
    caps = { stamps_per_hour = 20, stamps_per_day = 100, invoiced_mxn_per_day = 200000, refunded_mxn_per_day = 0 }
    currencies = ["MXN", "USD"]
    teams = ["team_a"]
    receivers = ["EKU*", "XAXX010101000"]   # RFC patterns (fnmatch)
    live_writes = false

Decisions are pure (`decide`); caps are counted in a `Counters` store (in-process, or Redis shared by
replicas) that reserves all of a call's amounts at once or none. See docs/policy.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import json
import re
import signal
import threading
import tomllib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .clock import MEXICO
from .guards.refusal import GuardViolation, Refused
from .shared_redis import SharedRedis, shared

MoneyKind = Literal["invoice", "payment", "refund"]


class PolicyError(ValueError):
    """A policy file that cannot be used: start-up stops (a reload keeps the previous policy)."""


class ToolRule(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    CONFIRM = "confirm"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Money(_Strict):
    max_invoice_mxn: float | None = Field(None, ge=0)
    max_payment_mxn: float | None = Field(None, ge=0)
    max_refund_mxn: float | None = Field(None, ge=0)
    confirm_above_mxn: float | None = Field(None, ge=0)


class Caps(_Strict):
    stamps_per_hour: int | None = Field(None, ge=0)
    stamps_per_day: int | None = Field(None, ge=0)
    invoiced_mxn_per_hour: float | None = Field(None, ge=0)
    invoiced_mxn_per_day: float | None = Field(None, ge=0)
    refunded_mxn_per_hour: float | None = Field(None, ge=0)
    refunded_mxn_per_day: float | None = Field(None, ge=0)


class Rules(_Strict):
    tools: dict[str, ToolRule] = Field(default_factory=dict)
    money: Money = Field(default_factory=Money)
    caps: Caps = Field(default_factory=Caps)
    currencies: list[str] | None = None
    teams: list[str] | None = None
    receivers: list[str] | None = None
    live_writes: bool = False

    def tool_rule(self, tool: str, kind: str = "") -> ToolRule:
        """The tool's own rule, else its kind's (`kind:read`, `kind:write`, `kind:destructive`), else `*`."""
        return self.tools.get(tool) or self.tools.get(f"kind:{kind}") or self.tools.get("*") or ToolRule.ALLOW


class PolicyFile(_Strict):
    defaults: dict[str, Any] = Field(default_factory=dict)
    principals: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# -- loading, with errors that name the line -----------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r'^\s*("[^"]*"|[A-Za-z0-9_*-]+)\s*=')


def _path(text: str) -> list[str]:
    return [p.strip().strip('"') for p in re.findall(r'"[^"]*"|[^.]+', text)]


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line where the value at `loc` (a pydantic error location) is written, best effort."""
    table: list[str] = []
    want = [str(x) for x in loc]
    best = None
    for n, line in enumerate(text.splitlines(), 1):
        if m := _HEADER.match(line):
            table = _path(m.group(1))
            if want[: len(table)] == table:
                best = n
        elif (
            (m := _KEY.match(line))
            and want[: len(table) + 1] == [*table, m.group(1).strip('"')]
            or table
            and want[: len(table)] == table
            and re.search(rf"\b{re.escape(want[-1])}\s*=", line)
        ):
            return n
    return best


def _refuse(text: str, source: str, exc: ValidationError, prefix: tuple[str, ...]) -> PolicyError:
    err = exc.errors()[0]
    where = (*prefix, *(str(x) for x in err["loc"]))
    line = _line_of(text, where)
    given = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
    at = f" line {line}" if line else ""
    return PolicyError(f"{source}{at}: {'.'.join(where)}: {err['msg']}{given}")


def parse_policy(text: str, source: str = "policy") -> PolicyFile:
    """The policy in `text`, every table checked; errors name the line and the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    try:
        policy = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise _refuse(text, source, exc, ()) from None
    try:
        Rules.model_validate(policy.defaults)
    except ValidationError as exc:
        raise _refuse(text, source, exc, ("defaults",)) from None
    for name, over in policy.principals.items():
        try:
            Rules.model_validate(over)
        except ValidationError as exc:
            raise _refuse(text, source, exc, ("principals", name)) from None
    return policy


def load_policy(path: str | Path) -> PolicyFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file {path}: {exc.strerror}") from None
    return parse_policy(text, str(path))


def rules_for(policy: PolicyFile, principal: str) -> Rules:
    over = policy.principals.get(principal)
    return Rules.model_validate(_merge(policy.defaults, over) if over else policy.defaults)


# -- what a call would do ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallFacts:
    """What the pipeline knows about a call before sending it."""

    principal: str
    tool: str
    read_only: bool
    kind: str = ""  # read, write or destructive
    team: str | None = None
    live: bool = False
    money: MoneyKind | None = None
    amount_mxn: float | None = None
    currency: str | None = None
    receiver: str | None = None  # RFC
    stamps: int = 0


class PolicyRefusal(GuardViolation):
    """Refused by the policy: nothing was sent. The text names the rule (its policy key, e.g.
    `money.max_payment_mxn`), the limit, the amount and what the user can do, in Spanish and English;
    the structured refusal carries the rule, the amount and the limit."""

    def __init__(self, rule: str, en: str, es: str, limit: Any = None, amount: Any = None) -> None:
        self.rule, self.en, self.es, self.limit, self.amount = rule, en, es, limit, amount
        refused = Refused(
            rule,
            "amount_mxn" if amount is not None else "",
            amount,
            f"at most {limit:,.2f}" if isinstance(limit, int | float) else "",
        )
        super().__init__(f"Refused by policy rule {rule}: {en} / Política {rule}: {es}", [refused])


def _mxn(x: float) -> str:
    return f"{x:,.2f} MXN"


ASK_ADMIN_EN = "ask an administrator to raise it"
ASK_ADMIN_ES = "pide a un administrador que lo amplíe"


def _matches(rfc: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(rfc.upper(), p.upper()) for p in patterns)


def decide(rules: Rules, facts: CallFacts) -> ToolRule:
    """ALLOW or CONFIRM for this call, or raise PolicyRefusal. Reads are limited only by `tools`."""
    rule = rules.tool_rule(facts.tool, facts.kind or ("read" if facts.read_only else "write"))
    if rule is ToolRule.DENY:
        raise PolicyRefusal(
            f"tools.{facts.tool}",
            f"{facts.tool} is not allowed for this assistant; ask an administrator or do it in gigstack.",
            f"{facts.tool} no está permitido para este asistente; pide a un administrador o hazlo en gigstack.",
        )
    if facts.read_only:
        return rule
    if facts.live and not rules.live_writes:
        raise PolicyRefusal(
            "live_writes",
            "this server uses a live gigstack key and live writes are off; an administrator can turn them on "
            "(live_writes = true in the policy, or --allow-live-writes). Reading still works.",
            "este servidor usa una llave live de gigstack y las escrituras live están apagadas; un "
            "administrador puede activarlas (live_writes = true o --allow-live-writes). Leer sí funciona.",
        )
    if rules.teams is not None and (facts.team or "") not in rules.teams and "*" not in rules.teams:
        raise PolicyRefusal(
            "teams",
            f"team {facts.team or '(default)'} is not in the allowed teams ({', '.join(rules.teams)}).",
            f"el equipo {facts.team or '(predeterminado)'} no está entre los permitidos ({', '.join(rules.teams)}).",
        )
    if facts.currency and rules.currencies is not None and facts.currency.upper() not in rules.currencies:
        raise PolicyRefusal(
            "currencies",
            f"currency {facts.currency} is not allowed ({', '.join(rules.currencies)}).",
            f"la moneda {facts.currency} no está permitida ({', '.join(rules.currencies)}).",
        )
    receivers = rules.receivers
    if facts.receiver and receivers is not None and not _matches(facts.receiver, receivers):
        raise PolicyRefusal(
            "receivers",
            "this receiver's RFC is not among the receivers this assistant may invoice.",
            "el RFC de este receptor no está entre los que este asistente puede facturar.",
        )
    if facts.money and facts.amount_mxn is not None:
        limit = getattr(rules.money, f"max_{facts.money}_mxn")
        if limit is not None and facts.amount_mxn > limit:
            raise PolicyRefusal(
                f"money.max_{facts.money}_mxn",
                f"{_mxn(facts.amount_mxn)} is over the {facts.money} limit of {_mxn(limit)}; "
                f"{ASK_ADMIN_EN}, or split it.",
                f"{_mxn(facts.amount_mxn)} excede el límite por {facts.money} de {_mxn(limit)}; "
                f"{ASK_ADMIN_ES}, o divídelo.",
                limit,
                facts.amount_mxn,
            )
        above = rules.money.confirm_above_mxn
        if above is not None and facts.amount_mxn > above:
            return ToolRule.CONFIRM
    return rule


# -- caps: counted per principal per hour and per Mexico day ---------------------------------------------


@dataclass(frozen=True)
class Charge:
    """One counter to add to: key, amount, limit (and the window's length for expiry)."""

    key: str
    amount: float
    limit: float
    ttl: int
    metric: str


def charges(rules: Rules, facts: CallFacts, now: dt.datetime) -> list[Charge]:
    if facts.read_only:
        return []
    local = now.astimezone(MEXICO)
    windows = {"hour": (local.strftime("%Y-%m-%dT%H"), 3600), "day": (local.strftime("%Y-%m-%d"), 86400)}
    amounts = {"stamps": float(facts.stamps)}
    if facts.money == "invoice" and facts.amount_mxn:
        amounts["invoiced_mxn"] = facts.amount_mxn
    if facts.money == "refund" and facts.amount_mxn:
        amounts["refunded_mxn"] = facts.amount_mxn
    out = []
    for metric, amount in amounts.items():
        for window, (stamp, ttl) in windows.items():
            limit = getattr(rules.caps, f"{metric}_per_{window}")
            if limit is not None and amount:
                key = f"gigstack-mcp:cap:{facts.principal}:{metric}:{window}:{stamp}"
                out.append(Charge(key, amount, float(limit), ttl + 60, f"caps.{metric}_per_{window}"))
    return out


class CountersDown(Exception):
    """The shared counter store cannot be reached: writes fail closed."""


class Counters(Protocol):
    async def reserve(self, charges: list[Charge]) -> Charge | None:
        """Add every charge, or none if one would pass its limit (returned)."""

    async def release(self, charges: list[Charge]) -> None:
        """Give back what a call that was not carried out had reserved."""

    async def aclose(self) -> None: ...


@dataclass
class LocalCounters:
    """One process's counters."""

    values: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def reserve(self, charges: list[Charge]) -> Charge | None:
        with self.lock:
            for c in charges:
                if self.values.get(c.key, 0.0) + c.amount > c.limit + 1e-9:
                    return c
            for c in charges:
                self.values[c.key] = self.values.get(c.key, 0.0) + c.amount
        return None

    async def release(self, charges: list[Charge]) -> None:
        with self.lock:
            for c in charges:
                self.values[c.key] = self.values.get(c.key, 0.0) - c.amount

    async def aclose(self) -> None:
        pass


# All or nothing, atomically: check every key against its limit, then add to every key.
_RESERVE = """
for i, key in ipairs(KEYS) do
  local now = tonumber(redis.call('GET', key) or '0')
  if now + tonumber(ARGV[3*i-2]) > tonumber(ARGV[3*i-1]) + 1e-9 then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('INCRBYFLOAT', key, ARGV[3*i-2])
  redis.call('EXPIRE', key, ARGV[3*i])
end
return 0
"""


class RedisCounters:
    """Counters shared by replicas through Redis. `redis`: the server's one client (shared_redis.py, also
    used by the spent confirmations), or a URL for a client of its own."""

    def __init__(self, redis: SharedRedis | str) -> None:
        self._redis, self._owned = shared(redis)
        self._script: Any = None

    def _client(self) -> Any:
        client = self._redis.client()  # redis is imported on first use: start-up never pays for it
        if self._script is None or self._script.registered_client is not client:
            self._script = client.register_script(_RESERVE)
        return client

    async def reserve(self, charges: list[Charge]) -> Charge | None:
        if not charges:
            return None
        args: list[Any] = []
        for c in charges:
            args += [repr(c.amount), repr(c.limit), c.ttl]
        try:
            self._client()
            over = int(await self._script(keys=[c.key for c in charges], args=args))
        except Exception as exc:  # any redis failure: we cannot count, so we do not spend
            raise CountersDown(type(exc).__name__) from None
        return charges[over - 1] if over else None

    async def release(self, charges: list[Charge]) -> None:
        try:
            async with self._client().pipeline(transaction=True) as pipe:
                for c in charges:
                    pipe.incrbyfloat(c.key, -c.amount)
                await pipe.execute()
        except Exception:
            pass  # a lost release only makes the cap stricter, never looser

    async def aclose(self) -> None:
        if self._owned:
            await self._redis.aclose()


def cap_refusal(over: Charge, facts: CallFacts) -> PolicyRefusal:
    unit = "stamps" if over.metric.startswith("caps.stamps") else "MXN"
    window = "hour" if over.metric.endswith("hour") else "day"
    ventana = "hora" if window == "hour" else "día"
    limit = f"{over.limit:,.0f} {unit}" if unit == "stamps" else _mxn(over.limit)
    return PolicyRefusal(
        over.metric,
        f"this would pass the cap of {limit} per {window} for this assistant (this call: {over.amount:,.2f} "
        f"{unit}); wait for the next {window}, {ASK_ADMIN_EN}, or do it in gigstack.",
        f"esto pasaría el tope de {limit} por {ventana} de este asistente (esta llamada: {over.amount:,.2f} "
        f"{unit}); espera a la siguiente {ventana}, {ASK_ADMIN_ES}, o hazlo en gigstack.",
        over.limit,
        over.amount,
    )


# -- live keys -------------------------------------------------------------------------------------------


def is_test_key(key: str) -> bool:
    """gigstack's own rule (official CLI `isTestKey`): `sk_test…`, or a JWT whose payload says
    `livemode: false` or whose `key_id` contains `test`. Anything else is live."""
    if key.startswith("sk_test"):
        return True
    parts = key.split(".")
    if len(parts) == 3:
        try:
            payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, TypeError):
            return False
        if isinstance(payload, dict):
            return payload.get("livemode") is False or "test" in str(payload.get("key_id", ""))
    return False


# -- the policy in force, reloaded on change or SIGHUP -----------------------------------------------------


_HOLDERS: weakref.WeakSet[PolicyHolder] = weakref.WeakSet()


def install_sighup() -> None:
    """SIGHUP reloads every policy in force (sessions stay open)."""
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: [h.request_reload() for h in list(_HOLDERS)])


class PolicyHolder:
    """The current policy; `current()` reloads it when the file changed (checked at most once a second)
    or after `request_reload()` (SIGHUP). A file that no longer parses keeps the previous policy."""

    def __init__(
        self, path: str | Path, *, clock: Callable[[], float] | None = None, on_error: Callable[[str], None]
    ) -> None:
        import time

        self.path = Path(path)
        self.clock = clock or time.monotonic
        self.on_error = on_error
        self.policy = load_policy(self.path)
        self._stamp = self._file_stamp()
        self._checked = self.clock()
        self._forced = False
        _HOLDERS.add(self)

    def _file_stamp(self) -> tuple[int, int]:
        try:
            st = self.path.stat()
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def request_reload(self) -> None:
        self._forced = True

    def current(self) -> PolicyFile:
        now = self.clock()
        if self._forced or now - self._checked >= 1.0:
            self._checked = now
            stamp = self._file_stamp()
            if self._forced or stamp != self._stamp:
                self._forced, self._stamp = False, stamp
                try:
                    self.policy = load_policy(self.path)
                except PolicyError as exc:
                    self.on_error(f"policy not reloaded, the previous one stays in force: {exc}")
        return self.policy
