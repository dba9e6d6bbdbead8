"""The agent portal's contacts: the shared directory (read-only) and the team, favourites first."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from control.services import contacts, portal_contacts
from web.auth import actor
from web.db import db, write
from web.forms import checkbox

bp = Blueprint("portal_contacts", __name__, url_prefix="/portal/contacts")


@bp.get("/")
def index() -> str:
    me = actor()
    page = portal_contacts.external(
        db(), me, q=request.args.get("q", ""), page=request.args.get("page", 1, type=int)
    )
    starred, _ = contacts.favourite_ids(db(), me.id)
    return render_template("portal/contacts.html", page=page, starred=starred)


@bp.get("/team")
def team() -> str:
    me = actor()
    page = portal_contacts.team(
        db(), me, q=request.args.get("q", ""), page=request.args.get("page", 1, type=int)
    )
    _, starred = contacts.favourite_ids(db(), me.id)
    return render_template(
        "portal/team.html",
        page=page,
        starred=starred,
        presence=portal_contacts.team_presence(db(), me, page.items),
    )


def _starred(url: str, on: bool, name: str, back: str) -> Response | str:
    if request.headers.get("HX-Request"):
        return render_template("contacts/_star.html", url=url, on=on, name=name)
    flash(f"{name} {'added to' if on else 'removed from'} your favourites.", "success")
    return redirect(back)


@bp.post("/<int:contact_id>/favourite")
def favourite(contact_id: int) -> Response | str:
    on = checkbox(request.form, "on")
    with write() as s:
        name = portal_contacts.star(s, actor(), contact_id=contact_id, on=on)
    url = url_for("portal_contacts.favourite", contact_id=contact_id)
    return _starred(url, on, name, url_for("portal_contacts.index"))


@bp.post("/team/<int:user_id>/favourite")
def favourite_user(user_id: int) -> Response | str:
    on = checkbox(request.form, "on")
    with write() as s:
        name = portal_contacts.star(s, actor(), favourite_user_id=user_id, on=on)
    url = url_for("portal_contacts.favourite_user", user_id=user_id)
    return _starred(url, on, name, url_for("portal_contacts.team"))
