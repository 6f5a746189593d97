"""How tools run the SAT guard rails: the fiscal data a rule needs (the receiver's régimen, RFC and
zip; the issuer team's) fetched from gigstack when a tool only has an id, cached briefly, and rule
findings turned into tool errors (violations: nothing is sent) or warnings (sent with the result)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .refusal import GuardViolation

if TYPE_CHECKING:
    from ..context import Api

FISCAL_TTL = 60.0  # seconds: long enough for one conversation turn, short enough to see an edit
_MAX_ENTRIES = 2048


def rules(check: Callable[..., Iterable[Any]], *args: Any, **kwargs: Any) -> list[str]:
    """Run a rule check of guards/cfdi/ (the function itself; a tool's params model goes through as it
    is, the check reads its body): broken rules stop the call with a GuardViolation that carries each
    rule ID, field, value and what is allowed; warnings go back to be shown with the result."""
    from . import cfdi

    try:
        return [str(w) for w in check(*args, **kwargs)]
    except cfdi.RuleViolation as exc:
        raise GuardViolation.from_rules(exc) from None


async def _cached(api: Api, key: str, path: str, *, missing_ok: bool) -> dict[str, Any] | None:
    from ..client import NotFoundError

    cache = api.state.fiscal_cache  # per server process; keyed by caller so tenants never share
    cache_key = (api.creds.api_key if api.creds else None, api.team, key)
    hit = cache.get(cache_key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    try:
        envelope = await (await api.gigstack()).get(path, team=api.team)
        data = envelope.get("data") if isinstance(envelope, dict) else None
        data = data if isinstance(data, dict) else None  # one object, never a list someone's id led to
    except NotFoundError:
        if not missing_ok:
            raise
        data = None
    if len(cache) >= _MAX_ENTRIES:
        cache.clear()
    cache[cache_key] = (time.monotonic() + FISCAL_TTL, data)
    return data


def forget(api: Api, client_id: str) -> None:
    """Drop a cached client after the tool itself changed it."""
    cache = api.state.fiscal_cache
    for key in [k for k in cache if k[2] == f"client:{client_id}"]:
        cache.pop(key, None)


async def receiver(api: Api, client: Any) -> dict[str, Any] | None:
    """The receiver's fiscal data: the stored client when `client` names an id (an unknown id is a
    404 tool error before anything is sent), else the inline fields."""
    ref = client if isinstance(client, dict) else None
    if not ref:
        return None
    if ref.get("id"):
        stored = await _cached(api, f"client:{ref['id']}", f"/clients/{ref['id']}", missing_ok=False)
        return {**(stored or {}), **{k: v for k, v in ref.items() if k != "id"}} if stored else None
    return ref


async def service(api: Api, service_id: str) -> dict[str, Any] | None:
    """A stored service (an item that references it inherits its price and taxes)."""
    return await _cached(api, f"service:{service_id}", f"/services/{service_id}", missing_ok=True)


async def issuer(api: Api) -> dict[str, Any] | None:
    """The issuing team's fiscal data (régimen, RFC, zip): the team the call names, else the key's own
    team, learnt as the official CLI does (`resolveTeam`) and cached until `update_team` changes it."""
    if api.team:
        return await _cached(api, f"team:{api.team}", f"/teams/{api.team}", missing_ok=True)
    cache = api.state.fiscal_cache
    cache_key = (_caller_key(api), None, OWN_TEAM)
    hit = cache.get(cache_key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    from ..client import GigstackError

    try:
        data = await _own_team(api)
    except GigstackError:
        return None  # unknown for this call only (the rules that need it warn); asked again next call
    cache[cache_key] = (time.monotonic() + ISSUER_TTL, data)
    return data


OWN_TEAM = "team:own"
ISSUER_TTL = 3600.0  # the issuer changes rarely, and update_team drops it at once


def _caller_key(api: Api) -> str | None:
    if api.creds and api.creds.api_key:
        return api.creds.api_key.get_secret_value()
    key = getattr(api.state.settings, "api_key", None)
    return key.get_secret_value() if hasattr(key, "get_secret_value") else key


def team_in_key(key: str | None) -> str | None:
    """A gigstack key may be a JWT whose payload names the key's own team (official CLI getTeamFromKey)."""
    parts = (key or "").split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    team = payload.get("team") if isinstance(payload, dict) else None
    return team if isinstance(team, str) and team else None


async def _own_team(api: Api) -> dict[str, Any] | None:
    """GET /teams/{team of the key}; else GET /teams: the key's team, or its only team. With several teams
    and no team in the key the issuer stays unknown (the rules that need it warn) rather than guessed."""
    from ..client import NotFoundError

    client = await api.gigstack()
    team_id = team_in_key(_caller_key(api))
    if team_id:
        try:
            envelope = await client.get(f"/teams/{team_id}")
            data = envelope.get("data") if isinstance(envelope, dict) else None
            if isinstance(data, dict):
                return data
        except NotFoundError:
            pass  # the CLI falls back to the list too
    envelope = await client.get("/teams")
    teams = envelope.get("data") if isinstance(envelope, dict) else None
    teams = [t for t in teams if isinstance(t, dict)] if isinstance(teams, list) else []
    match = next((t for t in teams if team_id and t.get("id") == team_id), None)
    return match or (teams[0] if len(teams) == 1 else None)


def forget_team(api: Api, team_id: str | None) -> None:
    """Drop the cached issuer after update_team changed a team (its RFC, régimen or zip)."""
    cache = api.state.fiscal_cache
    for key in [k for k in cache if k[2] == OWN_TEAM or (team_id and k[2] == f"team:{team_id}")]:
        cache.pop(key, None)
