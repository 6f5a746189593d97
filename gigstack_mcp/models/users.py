"""Users (people with access to the account's teams): parameters and results."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import EmailStr, Field

from ._base import ListParams, Out, Page, ToolParams
from ._text import quoted, shown
from .teams import Role, UserId


class User(Out):
    id: str | None = None
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    company_role: str | None = None
    teams: list[dict[str, Any]] | None = None

    def summary(self) -> str:
        return f"{shown(self.id)} | {quoted(self.name)} | {shown(self.email)} | {quoted(self.company_role)}"


class NewUser(Out):
    id: str | None = None
    email: str | None = None
    name: str | None = None
    role: str | None = None
    invitation_sent: bool | None = None


class UserPage(Page[User]):
    pass


class PasswordReset(Out):
    email: str | None = None
    sent: bool | None = None


class UserFields(ToolParams):
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company_role: str | None = Field(None, description="Job title")


class CreateUserParams(UserFields):
    email: EmailStr
    auto_join: bool | None = Field(None, description="Join the team now")
    role: Role | None = Field(None, description="Only with auto_join (default viewer)")


class UpdateUserParams(UserFields):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: UserId


class UserIdParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: UserId


class ResetPasswordParams(ToolParams):
    email: EmailStr


class ListUsersParams(ListParams):
    pass
