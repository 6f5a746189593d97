"""Teams (gigstack Connect): parameters and results. Kept lean: these schemas are paid for in every chat."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import EmailStr, Field

from ._base import ListParams, Out, Page, Strict, ToolParams, text
from ._text import quoted, shown
from .clients import UsoCFDI
from .sat import RfcShape, Zip
from .services import ProductKey, Tax, UnitKey

TeamId = Annotated[str, Field(min_length=1)]
UserId = Annotated[str, Field(min_length=1)]
Role = Literal["admin", "editor", "viewer"]
Folio = Annotated[int, Field(ge=1)]
# Advertised as a word and an example (the patterns still validate; see models/clients.py):
Regimen = Annotated[str, Field(pattern=r"^6[0-2][0-9]$"), text("c_RegimenFiscal, e.g. 601")]
In = Strict  # a nested input object: unknown keys are an error, as at the top level


class Brand(In):
    alias: str = Field(min_length=1)


class TeamAddress(In):
    country: str | None = None  # gigstack's default: MEX
    zip: Zip | None = None


class NewMember(In):
    id: UserId
    role: Role | None = Field(None, description="default viewer")


class Member(Out):
    id: str | None = None
    email: str | None = None
    role: str | None = None


class IssuerAddress(Out):
    zip: str | None = None  # the issuer's CP: every CFDI's LugarExpedicion
    country: str | None = None


class Team(Out):
    id: str | None = None
    legal_name: str | None = None
    tax_id: str | None = None
    tax_system: str | None = None  # the issuer's régimen fiscal
    address: IssuerAddress | None = None  # its zip is the LugarExpedicion of the team's invoices
    brand: dict[str, Any] | None = None
    sat: dict[str, Any] | None = None
    members: list[Member] | None = None

    def summary(self) -> str:
        alias = (self.brand or {}).get("alias")
        sat = "CSD ok" if (self.sat or {}).get("completed") else "no CSD"
        zip_ = self.address.zip if self.address else None
        return (
            f"{shown(self.id)} | {quoted(alias or self.legal_name)} | RFC {shown(self.tax_id)} | "
            f"régimen {shown(self.tax_system)} | CP {shown(zip_)} | {sat}"
        )


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
    tax_id: RfcShape | None = None
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


class SeriesRef(In):
    serie: str = Field(pattern=r"^[A-Z]{1,10}$")


class DefaultSeries(In):
    income: SeriesRef | None = None
    credit_note: SeriesRef | None = None
    complements: SeriesRef | None = None


class SettingsEmails(In):
    invoices_bcc: list[EmailStr] | None = None
    avoid_invoice_emails: bool | None = None
    avoid_test_invoice_emails: bool | None = None
    avoid_receipts_emails: bool | None = None


class Periodicity(In):
    label: str | None = None
    value: str | None = None


class SettingsFields(In):
    """Only the keys to change"""  # gigstack-api.md 3.8

    default_description: str | None = None
    invoice_pdf_notes: str | None = None
    product_key: ProductKey | None = None
    unit_key: UnitKey | None = None
    use: UsoCFDI | None = None
    keep_full_legal_name: bool | None = None
    taxes: list[Tax] | None = None
    taxes_usd: list[Tax] | None = None
    withholding_taxes: list[Tax] | None = None
    emails: SettingsEmails | None = None
    avoid_automations_on_currencies: list[str] | None = None
    override_item_description: bool | None = None
    global_invoice_disabled: bool | None = None
    uses_on_self_invoice_portal: list[UsoCFDI] | None = None
    automate_complement_for_ppd_invoices: bool | None = None
    periodicity: Periodicity | None = None
    default_series: DefaultSeries | None = None
    customer_portal_id: str | None = None


class TeamSettingsParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId
    settings: SettingsFields


class AddMemberParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId
    user_id: UserId
    role: Role = Field("viewer", description="default viewer")


class RemoveMemberParams(ToolParams):
    path_fields: ClassVar[tuple[str, ...]] = ("id",)
    id: TeamId
    user_id: UserId


class ListTeamsParams(ListParams):
    pass
