"""Users toolset: the people with access to the account's teams."""

from __future__ import annotations

from ..context import Api
from ..models.users import (
    CreateUserParams,
    ListUsersParams,
    NewUser,
    PasswordReset,
    ResetPasswordParams,
    UpdateUserParams,
    User,
    UserIdParams,
    UserPage,
)
from ..registry import Toolset, refuse

users = Toolset("users", "Users: invite people, edit profiles, reset passwords.")


@users.read("List users")
async def list_users(api: Api, p: ListUsersParams) -> UserPage:
    """List the account's users (people who can sign in), newest first."""
    return await api.list("/users", UserPage, p)


@users.read("Get a user")
async def get_user(api: Api, p: UserIdParams) -> User:
    """Get a user's profile and the teams they belong to, with their role in each."""
    return await api.get(f"/users/{p.id}", User)


@users.write("Invite a user")
async def create_user(api: Api, p: CreateUserParams) -> NewUser:
    """Invite someone by email. auto_join also adds them to the team (`team`, else the key's) as
    `role`: ask which role."""
    if p.role and not p.auto_join:
        raise refuse(
            "ARGS-ROLE-AUTO-JOIN",
            "role only applies with auto_join=true; use add_team_member for other teams",
            field="role",
            value=p.role,
            allowed="only with auto_join=true",
        )
    return await api.post("/users", NewUser, json=p.body())


@users.write("Update a user", idempotent=True)
async def update_user(api: Api, p: UpdateUserParams) -> User:
    """Change a user's name, phone or job title; only the fields given change."""
    body = p.body()
    if not body:
        raise refuse("ARGS-NO-CHANGE", "give at least one field to change")
    return await api.put(f"/users/{p.id}", User, json=body)


async def _preview_reset(api: Api, p: ResetPasswordParams) -> str:
    return f"Email a password-reset link to {p.email}."


@users.destructive("Reset a user's password", preview=_preview_reset, idempotent=False)
async def reset_user_password(api: Api, p: ResetPasswordParams) -> PasswordReset:
    """Email a user a password-reset link."""
    return await api.post("/users/reset-password", PasswordReset, json=p.body())
