"""Teams toolset (gigstack Connect): the account's teams, their series/folios, settings and members."""

from __future__ import annotations

from ..context import Api
from ..guards import wiring
from ..models import ToolParams, quoted, shown
from ..models.teams import (
    AddMemberParams,
    CreateSeriesParams,
    CreateTeamParams,
    Integrations,
    ListTeamsParams,
    MemberChange,
    NewTeam,
    OnboardingUrl,
    RemoveMemberParams,
    Series,
    SeriesList,
    Team,
    TeamIdParams,
    TeamPage,
    TeamSettings,
    TeamSettingsParams,
    UpdateSeriesParams,
    UpdateTeamParams,
)
from ..registry import Toolset, refuse

teams = Toolset("teams", "Teams (gigstack Connect): series and folios, settings, members.")


@teams.read("List teams")
async def list_teams(api: Api, p: ListTeamsParams) -> TeamPage:
    """List the account's teams. Any tool acts on one of them when given its id as `team`."""
    return await api.list("/teams", TeamPage, p)


@teams.read("Get a team")
async def get_team(api: Api, p: TeamIdParams) -> Team:
    """Get a team's fiscal data, SAT (CSD) status and members."""
    return await api.get(f"/teams/{p.id}", Team)


@teams.read("Get team integrations")
async def get_team_integrations(api: Api, p: ToolParams) -> Integrations:
    """Which integrations (Stripe, Openpay, SAT CSD) the team (`team`, else the key's) has completed."""
    return await api.get("/teams/integrations", Integrations)


@teams.read("Get a team's series")
async def get_team_series(api: Api, p: TeamIdParams) -> SeriesList:
    """A team's invoice series and the next live/test folio of each."""
    return await api.list(f"/teams/{p.id}/series", SeriesList)


@teams.read("Get a team onboarding link")
async def get_team_onboarding_url(api: Api, p: TeamIdParams) -> OnboardingUrl:
    """A link where the team's owner uploads the CSD and fiscal data (needed before stamping)."""
    return await api.get(f"/teams/{p.id}/onboarding-url", OnboardingUrl)


@teams.write("Create a team")
async def create_team(api: Api, p: CreateTeamParams) -> NewTeam:
    """Create a team (a branch or another company) in this account. It can invoice once its CSD is
    uploaded through the onboarding link."""
    return await api.post("/teams", NewTeam, json=p.body())


def _changes(p: ToolParams) -> dict:
    body = p.body()
    if not body:
        raise refuse("ARGS-NO-CHANGE", "give at least one field to change")
    return body


@teams.write("Update a team", idempotent=True)
async def update_team(api: Api, p: UpdateTeamParams) -> Team:
    """Change a team's brand, RFC, regimen, support contact or address; only the fields given change."""
    try:
        return await api.put(f"/teams/{p.id}", Team, json=_changes(p))
    finally:
        wiring.forget_team(api, p.id)  # the issuer data the SAT rules use (RFC, régimen, zip)


@teams.write("Set a series' next folios", idempotent=True)
async def update_team_series(api: Api, p: UpdateSeriesParams) -> Series:
    """Set the next live and/or test folio of a series. It cannot go back to a folio already used."""
    return await api.put(f"/teams/{p.id}/series/{p.series_id}", Series, json=_changes(p))


@teams.write("Update team settings", idempotent=True)
async def update_team_settings(api: Api, p: TeamSettingsParams) -> TeamSettings:
    """Change invoicing defaults (uso, product/unit key, default series, emails, PDF notes...)."""
    return await api.put(f"/teams/{p.id}/settings", TeamSettings, json=_changes(p).get("settings", {}))


@teams.write("Create a series")
async def create_team_series(api: Api, p: CreateSeriesParams) -> Series:
    """Add an invoice series (e.g. B for a branch, NC for credit notes) to a team."""
    return await api.post(f"/teams/{p.id}/series", Series, json=p.body())


@teams.write("Add a team member")
async def add_team_member(api: Api, p: AddMemberParams) -> MemberChange:
    """Give an existing user (see list_users) access to a team with a role."""
    return await api.post(f"/teams/{p.id}/add-member", MemberChange, json={"id": p.user_id, "role": p.role})


async def _member_guard(api: Api, p: RemoveMemberParams) -> list[str]:
    team = await api.get(f"/teams/{p.id}", Team)
    if team.members is not None and not any(m.id == p.user_id for m in team.members):
        ids = ", ".join(shown(m.id) for m in team.members) or "none"
        raise refuse(
            "TEAM-NOT-MEMBER",
            f"{p.user_id} is not a member of team {p.id} (members: {ids})",
            field="user_id",
            value=p.user_id,
            allowed=ids,
        )
    return []


async def _preview_remove(api: Api, p: RemoveMemberParams) -> str:
    team = await api.get(f"/teams/{p.id}", Team)
    m = next((m for m in team.members or [] if m.id == p.user_id), None)
    who = f"{shown(m.email or m.id)} ({shown(m.id)}, role {shown(m.role)})" if m else p.user_id
    alias = (team.brand or {}).get("alias") or team.legal_name or team.id
    return f"Remove {who} from team {quoted(alias)} ({shown(team.id)}); they lose access to it."


@teams.destructive("Remove a team member", preview=_preview_remove, guard=_member_guard)
async def remove_team_member(api: Api, p: RemoveMemberParams) -> MemberChange:
    """Take a user's access to a team away."""
    return await api.post(f"/teams/{p.id}/remove-member", MemberChange, json={"id": p.user_id})
