"""Sandbox /users: the account's people (stored under the API key's home team), their invitations,
team memberships and password resets."""

from __future__ import annotations

import dataclasses
from typing import Any

from ._core import ApiError, Ctx, Resource, conflict, invalid, not_found, now, ok
from ._store import Doc, Store, new_id
from .teams import COLL as TEAMS
from .teams import add_member, home, save, team_or_404

resource = Resource("users")
COLL = "users"
_FIELDS = ("phone", "company_role")

USERS = [
    {
        "id": "user_owner",
        "email": "ana.torres@demo-sandbox.example",
        "first_name": "Ana",
        "last_name": "Torres",
        "phone": "+528112345678",
        "company_role": "Directora general",
        "role": "admin",
    },
    {
        "id": "user_accountant",
        "email": "contabilidad@demo-sandbox.example",
        "first_name": "Luis",
        "last_name": "Ramírez",
        "phone": "+528187654321",
        "company_role": "Contador",
        "role": "editor",
    },
]


def _name(doc: Doc) -> str:
    return " ".join(p for p in (doc.get("first_name"), doc.get("last_name")) if p)


def _apply(doc: Doc, body: dict[str, Any]) -> Doc:
    for api_name, alias in (("first_name", "firstName"), ("last_name", "lastName")):
        if api_name in body or alias in body:
            doc[api_name] = body.get(api_name, body.get(alias))
    for key in _FIELDS:
        if key in body:
            doc[key] = body[key]
    if "address" in body:
        doc["address"] = {**(doc.get("address") or {}), **body["address"]}
    doc["name"] = _name(doc) or doc.get("email")
    return doc


def _by_email(store: Store, account: str, email: str) -> Doc | None:
    email_n = email.strip().lower()
    hits = store.find(account, COLL, lambda d: str(d.get("email") or "").lower() == email_n)
    return hits[0] if hits else None


def _with_teams(ctx: Ctx, user: Doc) -> Doc:
    """The user plus the account's teams they belong to."""
    teams = []
    for _, team in ctx.store.all(home(ctx), TEAMS):
        for m in team.get("members") or []:
            if m["id"] == user["id"]:
                name = (team.get("brand") or {}).get("alias") or team.get("legal_name")
                teams.append({"team_id": team["id"], "team_name": name, "role": m.get("role")})
    return {**user, "teams": teams}


@resource.seeds
def seed(store: Store, team: str) -> None:
    """Two people: the owner (admin of the home team) and the accountant (editor)."""
    home_team = store.get(team, TEAMS, team)
    t = now()
    for u in USERS:
        if store.get(team, COLL, u["id"]) is not None:
            continue
        role = u["role"]
        doc = {k: v for k, v in u.items() if k != "role"}
        doc |= {"object": "user", "name": _name(doc), "created_at": t, "last_login": None, "address": {}}
        store.put(team, COLL, doc)
        if home_team is not None:
            add_member(home_team, doc, role)
    if home_team is not None:
        home_team.setdefault("owner", USERS[0]["id"])
        store.put(team, TEAMS, home_team)


@resource.op("GET", "/users", "list_users")
def list_users(ctx: Ctx):
    return dataclasses.replace(ctx, team=home(ctx)).page(COLL, "Users retrieved successfully")


@resource.op("GET", "/users/{id}", "get_user")
def get_user(ctx: Ctx):
    user = ctx.store.get(home(ctx), COLL, ctx.params["id"])
    if user is None:
        raise not_found("User", ctx.params["id"])
    return ok(_with_teams(ctx, user), "User retrieved successfully")


@resource.op("POST", "/users", "create_user")
def create_user(ctx: Ctx):
    body = ctx.body
    account = home(ctx)
    if body.get("role") and not body.get("auto_join"):
        raise invalid("role only applies with auto_join: true (the role in the team the user joins)")
    if _by_email(ctx.store, account, body["email"]) is not None:
        raise conflict(
            "User already exists",
            f"A user with email {body['email']} already exists in this account",
            "resource_already_exists",
        )
    team = team_or_404(ctx, ctx.team) if body.get("auto_join") else None
    doc: Doc = {
        "id": new_id("user"),
        "object": "user",
        "email": body["email"].strip(),
        "created_at": now(),
        "last_login": None,
        "address": {},
    }
    _apply(doc, body)
    ctx.store.put(account, COLL, doc)
    role = None
    if team is not None:
        role = body.get("role") or "viewer"
        add_member(team, doc, role)
        save(ctx, team)
    data = {**doc, "role": role, "team_id": team["id"] if team else None, "invitation_sent": True}
    return ok(data, "User created successfully", 201)


@resource.op("PUT", "/users/{id}", "update_user")
def update_user(ctx: Ctx):
    account = home(ctx)
    user = ctx.store.get(account, COLL, ctx.params["id"])
    if user is None:
        raise not_found("User", ctx.params["id"])
    _apply(user, ctx.body)
    user["updated_at"] = now()
    ctx.store.put(account, COLL, user)
    return ok(_with_teams(ctx, user), "User updated successfully")


@resource.op("POST", "/users/reset-password", "reset_user_password")
def reset_password(ctx: Ctx):
    user = _by_email(ctx.store, home(ctx), ctx.body["email"])
    if user is None:
        raise ApiError(404, "User not found", f"No user with email {ctx.body['email']}", "resource_not_found")
    return ok({"email": user["email"], "sent": True}, "Password reset email sent")
