from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control.errors import Invalid, NotFound
from control.models import Team, User
from control.services import audit
from control.services.listing import Page, like_pattern, paginate
from control.validators import Errors, add, text

SORTS = {"name": Team.name, "created": Team.created_at}


def get_team(session: Session, tenant_id: int, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.tenant_id != tenant_id:
        raise NotFound("team", team_id)
    return team


def list_teams(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[Team]:
    stmt = select(Team).where(Team.tenant_id == tenant_id)
    if q:
        stmt = stmt.where(func.lower(Team.name).like(like_pattern(q.lower()), escape="\\"))
    return paginate(session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="name")


def all_teams(session: Session, tenant_id: int) -> list[Team]:
    return list(session.scalars(select(Team).where(Team.tenant_id == tenant_id).order_by(Team.name)))


def _apply(session: Session, team: Team, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    team.name = text(errors, data, "name", required=True)
    if team.name and "name" not in errors:
        clash = session.scalar(
            select(Team).where(Team.tenant_id == tenant_id, Team.name == team.name, Team.id != (team.id or 0))
        )
        if clash is not None:
            add(errors, "name", "Another team already has this name.")
    if errors:
        raise Invalid(errors)


def create_team(session: Session, tenant_id: int, data: dict, actor: User | None) -> Team:
    team = Team(tenant_id=tenant_id)
    with session.no_autoflush:
        _apply(session, team, tenant_id, data)
    session.add(team)
    session.flush()
    audit.write(session, actor, "team.create", team)
    return team


def update_team(session: Session, tenant_id: int, team_id: int, data: dict, actor: User | None) -> Team:
    team = get_team(session, tenant_id, team_id)
    with session.no_autoflush:
        _apply(session, team, tenant_id, {"name": team.name} | dict(data))
    session.flush()
    audit.write(session, actor, "team.update", team)
    return team


def team_members(session: Session, tenant_id: int, team_id: int) -> list[User]:
    team = get_team(session, tenant_id, team_id)
    return list(session.scalars(select(User).where(User.teams.any(Team.id == team.id)).order_by(User.name)))


def delete_team(session: Session, tenant_id: int, team_id: int, actor: User | None) -> None:
    team = get_team(session, tenant_id, team_id)
    audit.write(session, actor, "team.delete", team, name=team.name)
    session.delete(team)
    session.flush()
