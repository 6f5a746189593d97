"""Oversight of every tool call: the spend policy before it (gigstack_mcp/policy.py) and the audit trail
after it (gigstack_mcp/audit.py). The registry opens one `Watch` per call; this module never imports the
registry, so the call path stays one-way: registry -> state.oversight -> policy/audit.

What a call would do (amount, currency, receiver, stamps) is worked out here from its arguments with the
same math an invoice's preview shows (cfdi_math), converted to MXN with the call's exchange rate."""

from __future__ import annotations

import logging
import secrets
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import audit, cfdi_math, clock
from . import policy as pol

if TYPE_CHECKING:
    from .context import Api
    from .settings import Settings
    from .shared_redis import SharedRedis

log = logging.getLogger("gigstack_mcp.oversight")
# `asked`: a destructive call that only returned its preview and token: nothing happened, nothing recorded.
# `previewed`: a write called with preview true (its rehearsal): nothing sent, recorded as such.
Outcome = Literal["done", "refused", "failed", "unknown", "declined", "asked", "previewed"]

# What a tool does with money and how many CFDI it stamps (tools not named here move no money).
SPEND: dict[str, tuple[pol.MoneyKind | None, int]] = {
    "create_income_invoice": ("invoice", 1),
    "create_egress_invoice": (None, 1),
    "stamp_receipt": (None, 1),
    "stamp_client_pending_receipts": (None, 1),
    "request_payment": ("payment", 0),
    "register_payment": ("payment", 1),
    "refund_payment": ("refund", 0),
}
# The ids that say what a call acted on, from its arguments and from gigstack's answer.
TARGET_FIELDS = ("id", "uuid", "client_id", "payment_id", "receipt_id", "member_id", "series_id")
RESULT_IDS = ("id", "uuid", "series", "folio_number", "folio", "status")


def _sent_key() -> str | None:
    """The idempotency key the client put on this call's write, if it sent one."""
    from .client._client import sent_idempotency_key

    return sent_idempotency_key.get()


def _principal() -> str:
    """The HTTP caller (the Gate's principal, never its token), or `local` for stdio."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    token = get_access_token()
    return token.client_id if token is not None and token.client_id else "local"


class Oversight:
    """Per-process: the policy in force, the cap counters and the audit log."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock=clock.now,
        counters: pol.Counters | None = None,
        redis: SharedRedis | None = None,
    ) -> None:
        self.settings, self.clock = settings, clock
        self.policy = (
            pol.PolicyHolder(settings.policy, on_error=lambda m: log.error("%s", m))
            if settings.policy
            else None
        )
        if counters is None:  # `redis`: the server's one client (GIGSTACK_MCP_REDIS_URL), when it has one
            counters = pol.RedisCounters(redis) if redis is not None else pol.LocalCounters()
        self.counters = counters
        target = (settings.audit_log or "stderr").strip()
        key = settings.audit_key.get_secret_value().encode() if settings.audit_key else b""
        # The redaction hashes need a key: a known one would let anyone hash a list of RFCs or emails and
        # match them. Without GIGSTACK_AUDIT_KEY, one per process (hashes then match within a process only).
        self.audit_key = key or secrets.token_bytes(32)
        self.audit = (
            None
            if target == "off"
            else audit.AuditLog(
                None if target == "stderr" else target, key=key, fsync=settings.audit_fsync, clock=clock
            )
        )

    def rules(self, principal: str) -> pol.Rules:
        base = pol.rules_for(self.policy.current(), principal) if self.policy else pol.Rules()
        if self.settings.allow_live_writes:
            base = base.model_copy(update={"live_writes": True})
        return base

    def live(self, api: Api) -> bool:
        creds_key = api.creds.api_key if api.creds is not None else None
        if creds_key is None and self.settings.use_sandbox():
            return False
        key = creds_key or self.settings.api_key
        return key is not None and not pol.is_test_key(key.get_secret_value())

    def watch(
        self,
        tool: str,
        kind: str,
        api: Api,
        params: Any,
        *,
        confirmable: bool = False,
        rehearsal: bool = False,
    ) -> Watch:
        from .client._client import sent_idempotency_key

        sent_idempotency_key.set(None)  # a call's record never shows an earlier call's key
        return Watch(self, tool, kind, api, params, confirmable, rehearsal)

    def record(
        self,
        principal: str,
        tool: str,
        team: str | None,
        outcome: Outcome,
        args: dict[str, Any],
        *,
        amount: dict[str, Any] | None = None,
        result: Any = None,
        rule: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Append one audit record: who, what, on which ids, for how much, how it ended; arguments
        and reasons redacted (audit.REDACT)."""
        if self.audit is None:
            return
        rec: dict[str, Any] = {"principal": principal, "tool": tool, "team": team, "outcome": outcome}
        if targets := {k: args[k] for k in TARGET_FIELDS if k in args}:
            rec["targets"] = targets
        if amount:
            rec["amount"] = amount
        if rule:
            rec["rule"] = rule
        if reason:
            rec["reason"] = audit.redact(reason[:500], self.audit_key)
        if key := args.get("idempotency_key") or _sent_key():
            rec["idempotency_key"] = key
        if result is not None and hasattr(result, "model_dump"):
            data = result.model_dump(mode="json", exclude_none=True)
            inner = data.get("result") if isinstance(data.get("result"), dict) else data
            if ids := {
                k: inner[k] for k in RESULT_IDS if k in inner and not isinstance(inner[k], dict | list)
            }:
                rec["gigstack"] = ids
        rec["args"] = audit.redact(args, self.audit_key)
        try:
            self.audit.append(rec)
        except OSError as exc:  # a full disk must not turn a stamped invoice into an error
            print(f"gigstack-mcp: audit log write failed: {exc.strerror}", file=sys.stderr)

    def refused_arguments(self, tool: str, arguments: dict[str, Any], reason: str) -> None:
        """A write whose arguments were refused before the tool ran (nothing sent). Only their names are
        kept: input that failed validation can be any size or shape (the reason quotes the bad values)."""
        team = arguments.get("team") if isinstance(arguments.get("team"), str) else None
        names = {"given": sorted(str(k)[:64] for k in list(arguments)[:50])}
        self.record(
            _principal(),
            tool,
            team if team and len(team) <= 64 else None,
            "refused",
            names,
            rule="arguments",
            reason=reason,
        )

    def reload(self) -> None:
        if self.policy is not None:
            self.policy.request_reload()

    async def aclose(self) -> None:
        if self.audit is not None:
            self.audit.close()
        await self.counters.aclose()


async def _amount(api: Api, args: dict[str, Any], money: pol.MoneyKind) -> tuple[float | None, str]:
    """(amount in MXN or None when it cannot be known here, currency) of what the call would move."""
    currency = str(args.get("currency") or "MXN").upper()
    if money == "refund":
        total: float | None = float(args["amount"])
    else:
        total = await _items_total(api, args.get("items") or [])
    if total is None:
        return None, currency
    if currency == "MXN":
        return total, currency
    rate = args.get("exchange_rate")
    return (cfdi_math.money(cfdi_math.dec(total) * cfdi_math.dec(rate)) if rate else None), currency


async def _items_total(api: Api, items: list[dict[str, Any]]) -> float | None:
    from .guards import wiring

    priced = []
    try:
        for n, raw in enumerate(items):
            service = await wiring.service(api, raw["id"]) if raw.get("id") else None
            priced.append(cfdi_math.price_item(cfdi_math.inherit(service, raw), f"items.{n}"))
    except (cfdi_math.MathError, KeyError, TypeError):
        return None  # the guard rails refuse such items with a precise message
    return cfdi_math.totals(priced)["total"]


@dataclass
class Watch:
    """One call: `begin` decides (and reserves the caps), `end` writes the audit record and gives back
    what a call that was never carried out had reserved."""

    oversight: Oversight
    tool: str
    kind: str
    api: Api
    params: Any
    confirmable: bool = False  # the tool has the confirmation step (destructive, or a money write)
    # A write called with preview true: a read for the policy (only the tool's own rule can refuse it:
    # a write the assistant may never make is not worth rehearsing), nothing reserved, recorded `previewed`.
    rehearsal: bool = False
    principal: str = field(default_factory=_principal)
    facts: pol.CallFacts | None = None
    rules: pol.Rules | None = None
    charges: list[pol.Charge] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return self.kind != "read"

    async def _facts(self, rules: pol.Rules) -> pol.CallFacts:
        money, stamps = SPEND.get(self.tool, (None, 0))
        args = self.params.model_dump(mode="json", by_alias=True, exclude_none=True)
        amount, currency = (None, args.get("currency"))
        if money and self.writes:
            amount, currency = await _amount(self.api, args, money)
        return pol.CallFacts(
            principal=self.principal,
            tool=self.tool,
            read_only=not self.writes or self.rehearsal,
            kind=self.kind,
            team=self.api.team,
            live=self.writes and not self.rehearsal and self.oversight.live(self.api),
            money=money,
            amount_mxn=amount,
            currency=currency,
            receiver=await self._receiver(rules, args),
            stamps=stamps,
        )

    async def decide(self) -> pol.ToolRule:
        """The policy's answer for this call, without counting it: ALLOW or CONFIRM, or PolicyRefusal
        (recorded). Used before asking a person, so nobody is asked for what the policy refuses."""
        self.rules = rules = self.oversight.rules(self.principal)
        self.facts = await self._facts(rules)
        try:
            decision = pol.decide(rules, self.facts)
            if self.rehearsal:
                return pol.ToolRule.ALLOW  # nothing to confirm: the stamping call is asked about
            self._needs_amount(rules)
            if decision is pol.ToolRule.CONFIRM and not self.confirmable:
                raise pol.PolicyRefusal(
                    "confirm",
                    f"this policy wants a person to approve {self.tool}, which has no confirmation step; "
                    "ask an administrator to allow or deny it instead.",
                    f"esta política pide que una persona apruebe {self.tool}, que no tiene paso de "
                    "confirmación; pide a un administrador que lo permita o lo niegue.",
                )
        except pol.PolicyRefusal as exc:
            await self.end("refused", rule=exc.rule, reason=str(exc))
            raise
        return decision

    async def begin(self) -> pol.ToolRule:
        """`decide`, then reserve the caps. Raises PolicyRefusal (recorded): nothing is sent."""
        decision = await self.decide()
        if self.rehearsal:
            return decision  # sends nothing: counts against no cap
        assert self.facts is not None and self.rules is not None
        o = self.oversight
        try:  # the caps of the same policy that decided (a reload in between changes neither)
            self.charges = pol.charges(self.rules, self.facts, o.clock())
            try:
                over = await o.counters.reserve(self.charges)
            except pol.CountersDown as exc:
                self.charges = []
                raise pol.PolicyRefusal(
                    "caps.store",
                    f"the spend counters cannot be reached ({exc}); writes are paused until they are back.",
                    f"no se puede llegar a los contadores de gasto ({exc}); las escrituras esperan a que vuelvan.",
                ) from None
            if over is not None:
                self.charges = []
                raise pol.cap_refusal(over, self.facts)
        except pol.PolicyRefusal as exc:
            await self.end("refused", rule=exc.rule, reason=str(exc))
            raise
        return decision

    def preview(self) -> str:
        """What a person approves when the policy asks about a write (destructive tools have their own)."""
        f = self.facts
        clauses = [f"{self.tool}: {self._amount_text()}"]
        if f is not None and f.currency and f.currency != "MXN":
            clauses.append(f"charged in {f.currency}")
        if f is not None and f.stamps:
            clauses.append(f"stamps {f.stamps} CFDI")
        client = self.params.model_dump(mode="json", exclude_none=True).get("client")
        if isinstance(client, dict) and client.get("id"):
            clauses.append(f"client {str(client['id'])[:64]}")
        return "; ".join(clauses) + ". This assistant's policy asks a person to approve it."

    def _amount_text(self) -> str:
        f = self.facts
        return f"{f.amount_mxn:,.2f} MXN" if f and f.amount_mxn is not None else "amount not known"

    def _needs_amount(self, rules: pol.Rules) -> None:
        """A money limit that applies but an amount we cannot put in MXN: refuse rather than guess."""
        f = self.facts
        assert f is not None
        if not f.money or f.amount_mxn is not None or f.read_only:
            return
        limited = (
            getattr(rules.money, f"max_{f.money}_mxn") is not None
            or rules.money.confirm_above_mxn is not None
        )
        caps = {
            "invoice": ("invoiced_mxn_per_hour", "invoiced_mxn_per_day"),
            "refund": ("refunded_mxn_per_hour", "refunded_mxn_per_day"),
        }
        limited = limited or any(getattr(rules.caps, c) is not None for c in caps.get(f.money, ()))
        if limited:
            raise pol.PolicyRefusal(
                f"money.max_{f.money}_mxn",
                f"the amount in MXN cannot be known before sending ({f.currency} without exchange_rate); "
                "give exchange_rate so the limit can be checked.",
                f"no se puede saber el monto en MXN antes de enviar ({f.currency} sin exchange_rate); "
                "indica exchange_rate para revisar el límite.",
            )

    async def _receiver(self, rules: pol.Rules, args: dict[str, Any]) -> str | None:
        if rules.receivers is None or not self.writes or self.rehearsal or "client" not in args:
            return None
        from .guards import wiring

        data = await wiring.receiver(self.api, args["client"]) or {}
        return data.get("tax_id")

    async def end(
        self, outcome: Outcome, *, result: Any = None, rule: str | None = None, reason: str | None = None
    ) -> None:
        """Record a write or a refusal; give back the caps of a call that was not carried out (an
        `unknown` outcome keeps them: the stamp may have happened)."""
        if outcome in ("refused", "failed", "declined", "asked") and self.charges:
            charges, self.charges = self.charges, []
            await self.oversight.counters.release(charges)
        if outcome == "asked" or (not self.writes and outcome != "refused"):
            return
        args = self.params.model_dump(mode="json", by_alias=True, exclude_none=True)
        f = self.facts
        amount = {"kind": f.money, "mxn": f.amount_mxn, "currency": f.currency} if f and f.money else None
        self.oversight.record(
            self.principal,
            self.tool,
            self.api.team,
            outcome,
            args,
            amount=amount,
            result=result,
            rule=rule,
            reason=reason,
        )
