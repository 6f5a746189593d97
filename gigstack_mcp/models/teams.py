"""Teams (gigstack Connect): parameters and results. Kept lean: these schemas are paid for in every chat."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from ._base import ListParams, Out, Page, ToolParams, text
from ._text import quoted, shown

TeamId = Annotated[str, Field(min_length=1)]
UserId = Annotated[str, Field(min_length=1)]
Role = Literal["admin", "editor", "viewer"]
Folio = Annotated[int, Field(ge=1)]
# Advertised as a word and an example (the patterns still validate; see models/clients.py):
TeamRfc = Annotated[str, Field(pattern=r"^[A-Z&Ñ]{3,4}[0-9]{6}[A-Z0-9]{3}$"), text("RFC")]
Regimen = Annotated[str, Field(pattern=r"^6[0-2][0-9]$"), text("regimen fiscal, e.g. 601")]


class In(BaseModel):
    """A nested input object: unknown keys are an error, as at the top level."""

    model_config = ConfigDict(extra="forbid")


class Brand(In):
    alias: str = Field(min_length=1)


class TeamAddress(In):
    country: str = "MEX"
    zip: Annotated[str | None, Field(pattern=r"^[0-9]{5}$")] = None


class NewMember(In):
    id: UserId
    role: Role = "viewer"


class Member(Out):
    id: str | None = None
    email: str | None = None
    role: str | None = None


class Team(Out):
    id: str | None = None
    legal_name: str | None = None
    tax_id: str | None = None
    tax_system: str | None = None
    address: dict[str, Any] | None = None  # its zip is the LugarExpedicion of the team's invoices
    brand: dict[str, Any] | None = None
    sat: dict[str, Any] | None = None
    members: list[Member] | None = None

    def summary(self) -> str:
        alias = (self.brand or {}).get("alias")
        sat = "CSD ok" if (self.sat or {}).get("completed") else "no CSD"
        return f"{shown(self.id)} | {quoted(alias or self.legal_name)} | RFC {shown(self.tax_id)} | {sat}"


class NewTeam(Team):
    onboarding_url: str | None = None


class TeamPage(Page[Team]):
    pass


class Integrations(Out):
    stripe: dict[str, Any] | None = None
    openpay: dict[str, Any] | None = None
    sat: dict[str, Any] | None = None


class Series(Out):
    id: str | None = None
    series: str | None = None
    live: int | None = None
    test: int | None = None

    def summary(self) -> str:
        return f"{shown(self.id)} | next folio live {shown(self.live)}, test {shown(self.test)}"


class SeriesList(Out):
    data: list[Series] = Field(default_factory=list)


class OnboardingUrl(Out):
    url: str | None = None
    expires_at: int | None = None


class TeamSettings(Out):
    id: str | None = None
    settings: dict[str, Any] | None = None


class MemberChange(Out):
    team_id: str | None = None
    user_id: str | None = None
    role: str | None = None


# -- parameters ------------------------------------------------------------------------------------


class TeamIdParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId


class TeamFields(ToolParams):
    tax_id: TeamRfc | None = None
    tax_system: Regimen | None = None
    support_email: EmailStr | None = None
    support_phone: str | None = None
    address: TeamAddress | None = None


class CreateTeamParams(TeamFields):
    brand: Brand
    generate_onboarding_url: bool | None = None
    add_members: list[NewMember] | None = None
    add_master_team_members: bool | None = None


class UpdateTeamParams(TeamFields):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId
    brand: Brand | None = None


class CreateSeriesParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId
    series: str = Field(pattern=r"^[A-Z]{1,10}$")
    live: Folio | None = Field(None, description="First folio (default 1).")
    test: Folio | None = None


class UpdateSeriesParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id", "series_id")
    id: TeamId
    series_id: str = Field(min_length=1, description="e.g. series_A")
    live: Folio | None = Field(None, description="Next folio.")
    test: Folio | None = None


class TeamSettingsParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId
    settings: dict[str, Any] = Field(
        min_length=1,
        description='Keys to change, e.g. {"use":"G03","product_key":"80141503",'
        '"default_series":{"income":{"serie":"B"}}}',
    )


class AddMemberParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId
    user_id: UserId
    role: Role = "viewer"


class RemoveMemberParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId
    user_id: UserId


class ListTeamsParams(ListParams):
    pass
