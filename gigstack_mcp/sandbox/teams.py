"""Sandbox /teams: the account's teams (gigstack Connect), their invoice series, settings and members.

The account model: each API key has a home team; the home team's "teams" collection holds every team
of the account (the home team included), and `?team=` may name only those (see `app.allowed_teams`).
Team documents live there, in the home team's scope; a team's series live in its own scope, in the
"series" collection the invoices resource numbers invoices from."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from starlette.responses import JSONResponse

from ._core import ApiError, Ctx, Resource, conflict, invalid, not_found, now, ok
from ._fiscal import RFC_RE
from ._store import Doc, Store, new_id

resource = Resource("teams")
COLL = "teams"
SERIES = "series"
DEFAULT_SERIES = ("A", "E", "P")  # income, egress (notas de crédito), payment complements
ROLES = ("admin", "editor", "viewer")
_FIELDS = ("tax_id", "tax_system", "support_email", "support_phone")


# -- account ---------------------------------------------------------------------------------------


def home(ctx: Ctx) -> str:
    """The API key's own team: the account whose teams and users this request sees."""
    return ctx.account


def team_or_404(ctx: Ctx, team_id: str) -> Doc:
    """One of the account's teams (anything else is 404, as if it did not exist)."""
    doc = ctx.store.get(home(ctx), COLL, team_id)
    if doc is None:
        raise not_found("Team", team_id)
    return doc


def put(store: Store, account: str, doc: Doc) -> Doc:
    """Store a team in the account's list and, for a Connect team, in its own scope too (where the
    invoices resource reads a team's settings)."""
    if doc["id"] != account:
        store.put(doc["id"], COLL, doc)
    return store.put(account, COLL, doc)


def save(ctx: Ctx, doc: Doc) -> Doc:
    doc["updated_at"] = now()
    return put(ctx.store, home(ctx), doc)


# -- series (shared with invoices) -----------------------------------------------------------------


def series_id(series: str) -> str:
    return series if series.startswith("series_") else f"series_{series}"


def ensure_series(store: Store, team: str) -> None:
    """Every team numbers with A (income), E (egress) and P (payment complements) unless it has them."""
    for s in DEFAULT_SERIES:
        if store.get(team, SERIES, series_id(s)) is None:
            store.put(
                team,
                SERIES,
                {
                    "id": series_id(s),
                    "object": "series",
                    "series": s,
                    "live": 1,
                    "test": 1,
                    "created_at": now(),
                },
            )


def _last_used(store: Store, team: str, doc: Doc, mode: str) -> int:
    """The highest folio already on an invoice of this series (0 if none)."""
    used = [0]
    for inv in store.find(team, "invoices", lambda d: (d.get("series") or d.get("serie")) == doc["series"]):
        if bool(inv.get("livemode")) == (mode == "live"):
            folio = inv.get("folio_number", inv.get("folio"))
            if isinstance(folio, int) or (isinstance(folio, str) and folio.isdigit()):
                used.append(int(folio))
    return max(used)


# -- documents -------------------------------------------------------------------------------------


def _onboarding(ctx: Ctx, team_id: str) -> Doc:
    token = secrets.token_urlsafe(24)
    return {
        "url": f"{ctx.sandbox.base_url}/onboarding/{team_id}?token={token}",
        "expires_at": now() + 7 * 24 * 3600,
    }


def _check_fiscal(body: dict[str, Any]) -> None:
    rfc = body.get("tax_id")
    if rfc is not None and not RFC_RE.match(str(rfc).upper()):
        raise invalid(f"tax_id {rfc} is not a valid RFC (12 characters for personas morales, 13 for físicas)")


def _apply(doc: Doc, body: dict[str, Any]) -> Doc:
    for key in _FIELDS:
        if key in body:
            doc[key] = body[key]
    if doc.get("tax_id"):
        doc["tax_id"] = str(doc["tax_id"]).upper()
    for key in ("brand", "address"):
        if key in body:
            doc[key] = {**(doc.get(key) or {}), **body[key]}
    return doc


def _user(ctx: Ctx, user_id: str) -> Doc:
    user = ctx.store.get(home(ctx), "users", user_id)
    if user is None:
        raise not_found("User", user_id)
    return user


def add_member(team: Doc, user: Doc, role: str) -> Doc:
    member = {"id": user["id"], "email": user.get("email"), "role": role}
    team["members"] = [m for m in team.get("members") or [] if m["id"] != user["id"]] + [member]
    return member


def _defaults(t: int) -> Doc:
    return {
        "object": "team",
        "livemode": False,
        "created_at": t,
        "sat": {"completed": False, "connected_at": None, "csd_expires_at": None},
        "integrations": {"stripe": {"completed": False}, "openpay": {"completed": False}},
        "settings": {
            "keep_full_legal_name": False,
            "default_series": {
                "income": {"serie": "A"},
                "complements": {"serie": "P"},
                "credit_note": {"serie": "E"},
            },
        },
        "members": [],
        "credit_limit": 0,
        "used_credits": 0,
    }


@resource.seeds
def seed(store: Store, team: str) -> None:
    """The home team (put in its own "teams" collection by _seed) gets a connected SAT CSD."""
    doc = store.get(team, COLL, team) or {"id": team}
    t = doc.get("created_at") or now()
    full = {"id": team, **_defaults(t), **doc}
    full["sat"] = {"completed": True, "connected_at": t, "csd_expires_at": t + 3 * 365 * 24 * 3600}
    full.setdefault("support_email", "soporte@demo-sandbox.example")
    store.put(team, COLL, full)
    ensure_series(store, team)


# -- operations ------------------------------------------------------------------------------------


@resource.op("GET", "/teams", "list_teams")
def list_teams(ctx: Ctx):
    return dataclasses.replace(ctx, team=home(ctx)).page(COLL, "Teams retrieved successfully")


@resource.op("GET", "/teams/integrations", "get_team_integrations")
def get_integrations(ctx: Ctx):
    doc = team_or_404(ctx, ctx.team)
    integrations = doc.get("integrations") or {}
    sat = doc.get("sat") or {}
    return ok(
        {
            "stripe": integrations.get("stripe") or {"completed": False},
            "openpay": integrations.get("openpay") or {"completed": False},
            "sat": {"completed": bool(sat.get("completed")), "csd_expires_at": sat.get("csd_expires_at")},
        },
        "Team integrations retrieved successfully",
    )


@resource.op("GET", "/teams/{id}", "get_team")
def get_team(ctx: Ctx):
    return ok(team_or_404(ctx, ctx.params["id"]), "Team retrieved successfully")


@resource.op("POST", "/teams", "create_team")
def create_team(ctx: Ctx):
    body = ctx.body
    _check_fiscal(body)
    account = home(ctx)
    master = ctx.store.get(account, COLL, account) or {}
    t = now()
    team_id = new_id("team")
    doc: Doc = {"id": team_id, **_defaults(t), "address": {"country": "MEX"}, "brand": {}}
    doc["owner"] = master.get("owner")
    _apply(doc, body)
    members: list[tuple[Doc, str]] = []
    if master.get("owner"):
        owner = ctx.store.get(account, "users", master["owner"])
        if owner is not None:
            members.append((owner, "admin"))
    if body.get("add_master_team_members"):
        for m in master.get("members") or []:
            user = ctx.store.get(account, "users", m["id"])
            if user is not None:
                members.append((user, m.get("role") or "viewer"))
    for m in body.get("add_members") or []:
        members.append((_user(ctx, m["id"]), m.get("role") or "viewer"))  # unknown user: 404, nothing made
    for user, role in members:
        add_member(doc, user, role)
    put(ctx.store, account, doc)
    ensure_series(ctx.store, team_id)
    data = dict(doc)
    if body.get("generate_onboarding_url"):
        data["onboarding_url"] = _onboarding(ctx, team_id)["url"]
    return ok(data, "Team created successfully", 201)


@resource.op("PUT", "/teams/{id}", "update_team")
def update_team(ctx: Ctx):
    doc = team_or_404(ctx, ctx.params["id"])
    _check_fiscal(ctx.body)
    return ok(save(ctx, _apply(doc, ctx.body)), "Team updated successfully")


@resource.op("GET", "/teams/{id}/onboarding-url", "get_team_onboarding_url")
def onboarding_url(ctx: Ctx):
    doc = team_or_404(ctx, ctx.params["id"])
    return ok(_onboarding(ctx, doc["id"]), "Onboarding URL generated successfully")


@resource.op("GET", "/teams/{id}/series", "get_team_series")
def get_series(ctx: Ctx):
    doc = team_or_404(ctx, ctx.params["id"])
    ensure_series(ctx.store, doc["id"])
    rows = sorted((d for _, d in ctx.store.all(doc["id"], SERIES)), key=lambda d: d["series"])
    return JSONResponse(
        {
            "message": "Team series retrieved successfully",
            "data": rows,
            "next": None,
            "has_more": False,
            "total_results": len(rows),
        }
    )


@resource.op("POST", "/teams/{id}/series", "create_team_series")
def create_series(ctx: Ctx):
    doc = team_or_404(ctx, ctx.params["id"])
    ensure_series(ctx.store, doc["id"])
    name = ctx.body["series"]
    if ctx.store.get(doc["id"], SERIES, series_id(name)) is not None:
        raise conflict(
            "Series already exists",
            f"Team {doc['id']} already has series {name}; change its folios with update instead",
            "resource_already_exists",
        )
    series = {
        "id": series_id(name),
        "object": "series",
        "series": name,
        "live": ctx.body.get("live", 1),
        "test": ctx.body.get("test", 1),
        "created_at": now(),
    }
    return ok(ctx.store.put(doc["id"], SERIES, series), "Series created successfully", 201)


@resource.op("PUT", "/teams/{id}/series/{seriesId}", "update_team_series")
def update_series(ctx: Ctx):
    team = team_or_404(ctx, ctx.params["id"])
    ensure_series(ctx.store, team["id"])
    sid = series_id(ctx.params["seriesId"])
    doc = ctx.store.get(team["id"], SERIES, sid)
    if doc is None:
        raise not_found("Series", ctx.params["seriesId"])
    for mode in ("live", "test"):
        if mode in ctx.body:
            last = _last_used(ctx.store, team["id"], doc, mode)
            if ctx.body[mode] <= last:
                raise conflict(
                    "Folio already used",
                    f"Series {doc['series']} already used {mode} folio {last}; "
                    f"the next {mode} folio must be at least {last + 1}",
                )
            doc[mode] = ctx.body[mode]
    doc["updated_at"] = now()
    return ok(ctx.store.put(team["id"], SERIES, doc), "Series updated successfully")


def _merge(base: Doc, patch: Doc) -> Doc:
    out = dict(base)
    for k, v in patch.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@resource.op("PUT", "/teams/{id}/settings", "update_team_settings")
def update_settings(ctx: Ctx):
    doc = team_or_404(ctx, ctx.params["id"])
    ensure_series(ctx.store, doc["id"])
    for kind, ref in (ctx.body.get("default_series") or {}).items():
        name = (ref or {}).get("serie")
        if name and ctx.store.get(doc["id"], SERIES, series_id(name)) is None:
            raise invalid(f"default_series.{kind}.serie {name} is not a series of team {doc['id']}")
    doc["settings"] = _merge(doc.get("settings") or {}, ctx.body)
    return ok(save(ctx, doc), "Team settings updated successfully")


@resource.op("POST", "/teams/{id}/add-member", "add_team_member")
def add_team_member(ctx: Ctx):
    doc = team_or_404(ctx, ctx.params["id"])
    user = _user(ctx, ctx.body["id"])
    if any(m["id"] == user["id"] for m in doc.get("members") or []):
        raise conflict(
            "Already a member",
            f"User {user['id']} is already a member of team {doc['id']}",
            "resource_already_exists",
        )
    member = add_member(doc, user, ctx.body.get("role") or "viewer")
    save(ctx, doc)
    return ok(
        {"team_id": doc["id"], "user_id": user["id"], "email": member["email"], "role": member["role"]},
        "Member added successfully",
    )


@resource.op("POST", "/teams/{id}/remove-member", "remove_team_member")
def remove_team_member(ctx: Ctx):
    doc = team_or_404(ctx, ctx.params["id"])
    members = doc.get("members") or []
    member = next((m for m in members if m["id"] == ctx.body["id"]), None)
    if member is None:
        raise ApiError(
            404,
            "Member not found",
            f"User {ctx.body['id']} is not a member of team {doc['id']}",
            "resource_not_found",
        )
    rest = [m for m in members if m["id"] != member["id"]]
    if member.get("role") == "admin" and not any(m.get("role") == "admin" for m in rest):
        raise conflict(
            "Cannot remove the last admin",
            f"User {member['id']} is the only admin of team {doc['id']}; make another member admin first",
        )
    doc["members"] = rest
    save(ctx, doc)
    return ok(
        {"team_id": doc["id"], "user_id": member["id"], "email": member.get("email"), "removed": True},
        "Member removed successfully",
    )
