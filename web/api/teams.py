"""Teams."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control.services import teams
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import Body, ListArgs, name_text, page_body, page_schema, required_text, sort_choice
from web.db import db, write

bp = ApiBlueprint("teams", __name__, description="Teams of users.")


class Team(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    created_at = UtcDateTime()


class TeamUpdate(Body):
    name = name_text()


class TeamCreate(TeamUpdate):
    name = required_text()


class TeamListArgs(ListArgs):
    sort = sort_choice(teams.SORTS, "name")


TeamPage = page_schema(Team, "TeamPage")


@bp.route("", methods=["GET"])
@bp.arguments(TeamListArgs, location="query")
@bp.response(200, TeamPage)
def index(args: dict) -> dict:
    """List teams (search by name; sort: name, created)."""
    return page_body(teams.list_teams(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(TeamCreate)
@bp.response(201, Team)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        team = teams.create_team(s, me.tenant_id, data, me)
    return team, {"Location": url_for(".show", team_id=team.id)}


@bp.route("/<id:team_id>", methods=["GET"])
@bp.response(200, Team)
def show(team_id: int):  # type: ignore[no-untyped-def]
    return teams.get_team(db(), api_user().tenant_id, team_id)


@bp.route("/<id:team_id>", methods=["PATCH"])
@bp.arguments(TeamUpdate)
@bp.response(200, Team)
def update(data: dict, team_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return teams.update_team(s, me.tenant_id, team_id, data, me)


@bp.route("/<id:team_id>", methods=["DELETE"])
@bp.response(204)
def delete(team_id: int) -> Response:
    me = api_user()
    with write() as s:
        teams.delete_team(s, me.tenant_id, team_id, me)
    return Response(status=204)
