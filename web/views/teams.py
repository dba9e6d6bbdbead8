"""Teams: the reference shape of an admin area (list, create, edit, delete)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Invalid
from control.services import teams
from web.auth import actor
from web.db import db, write
from web.forms import form_data
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("teams", __name__, url_prefix="/teams")


@bp.get("/")
def index() -> str:
    me = actor()
    page = teams.list_teams(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template("teams/index.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    errors: dict[str, list[str]] = {}
    data = form_data(request.form) if request.method == "POST" else {}
    if request.method == "POST":
        try:
            with write() as s:
                team = teams.create_team(s, actor().tenant_id, data, actor())
            flash(f"Team {team.name} created.", "success")
            return redirect(url_for("teams.index"))
        except Invalid as exc:
            errors = exc.errors
    return render_template("teams/form.html", team=None, data=data, errors=errors), (400 if errors else 200)


@bp.route("/<int:team_id>", methods=["GET", "POST"])
def edit(team_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    team = teams.get_team(db(), me.tenant_id, team_id)
    errors: dict[str, list[str]] = {}
    data = {"name": team.name}
    if request.method == "POST":
        data = form_data(request.form)
        try:
            with write() as s:
                teams.update_team(s, me.tenant_id, team_id, data, me)
            flash("Team saved.", "success")
            return redirect(url_for("teams.index"))
        except Invalid as exc:
            errors = exc.errors
    members = teams.team_members(db(), me.tenant_id, team_id)
    return (
        render_template("teams/form.html", team=team, data=data, errors=errors, members=members),
        400 if errors else 200,
    )


@bp.post("/<int:team_id>/delete")
def delete(team_id: int):  # type: ignore[no-untyped-def]
    with write() as s:
        teams.delete_team(s, actor().tenant_id, team_id, actor())
    flash("Team deleted.", "success")
    return redirect(url_for("teams.index"))
