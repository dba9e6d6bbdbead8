"""Users: list with status tabs, settings, routing pause, suspension, SIP secret, deletion."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_user

from control.errors import Conflict, Invalid
from control.models import User
from control.services import numbers, presence, teams, users
from web.auth import actor
from web.db import db, write
from web.forms import checkbox, form_data
from web.views.query_args import id_arg, page_arg

ADMIN_AREA = True
bp = Blueprint("users", __name__, url_prefix="/users")

BOOLEAN_FIELDS = ("dnd", "notifications", "approves_numbers")
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "Français",
    "de": "Deutsch",
    "es": "Español",
    "nl": "Nederlands",
    "it": "Italiano",
    "pt": "Português",
}
# The flags an admin flips from the list: the name in the URL -> (flag, value, message).
FLAG_ACTIONS = {
    "pause": ("routing_paused", True, "Calls are no longer routed to {name}."),
    "activate": ("routing_paused", False, "Calls are routed to {name} again."),
    "suspend": ("suspended", True, "{name} is suspended and cannot log in."),
    "unsuspend": ("suspended", False, "{name} can log in again."),
}


@bp.get("/")
def index() -> str:
    me = actor()
    team_id = id_arg("team")
    page = users.list_users(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        status=request.args.get("status", ""),
        role=request.args.get("role", ""),
        team_id=team_id,
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template(
        "users/index.html",
        page=page,
        counts=users.user_status_counts(db(), me.tenant_id),
        teams=teams.all_teams(db(), me.tenant_id),
        roles=users.ROLES,
        me=me,
        presence=presence.states_by_user(db(), me.tenant_id, [u.id for u in page.items]),
    )


def _submitted() -> dict[str, Any]:
    data = form_data(request.form)
    data.setdefault("team_ids", [])
    for name in BOOLEAN_FIELDS:
        data[name] = checkbox(request.form, name)
    return data


def _form(user: User | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    me = actor()
    page = render_template(
        "users/form.html",
        user=user,
        data=data,
        errors=errors,
        team_options=[(team.id, team.name) for team in teams.all_teams(db(), me.tenant_id)],
        caller_id_options=[(n.id, n.e164) for n in numbers.usable_caller_ids(db(), me.tenant_id)],
        role_options=[(role, role.capitalize()) for role in users.ROLES],
        language_options=[(code, LANGUAGE_NAMES.get(code, code)) for code in users.LANGUAGES],
    )
    return page, 400 if errors else 200


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"role": "agent", "language": "en", "notifications": True}, {})
    me = actor()
    data = _submitted()
    try:
        with write() as s:
            errors: dict[str, list[str]] = {}
            if not str(data.get("password") or ""):
                errors["password"] = ["A new user needs a password."]
            try:
                user = users.create_user(s, me.tenant_id, data, me)
            except Invalid as exc:
                errors = exc.errors | errors
            if errors:
                raise Invalid(errors)
    except Invalid as exc:
        data.pop("password", None)
        return _form(None, data, exc.errors)
    flash(f"User {user.name} created.", "success")
    return redirect(url_for("users.index"))


@bp.route("/<int:user_id>", methods=["GET", "POST"])
def edit(user_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    user = users.get_user(db(), me.tenant_id, user_id)
    if request.method == "GET":
        data = {
            "name": user.name,
            "email": user.email,
            "role": user.role,
            "extension": user.extension,
            "language": user.language,
            "team_ids": [team.id for team in user.teams],
            "caller_id_number_id": user.caller_id_number_id,
            "dnd": user.dnd,
            "notifications": user.notifications,
            "avatar": user.avatar,
        }
        return _form(user, data, {})
    data = _submitted()
    try:
        with write() as s:
            users.update_user(s, me.tenant_id, user_id, data, me)
    except Invalid as exc:
        data.pop("password", None)
        return _form(users.get_user(db(), me.tenant_id, user_id), data, exc.errors)
    if user_id == me.id and data.get("password"):
        login_user(me)  # an admin's own new password: this session goes on, the others have ended
    flash("User saved.", "success")
    return redirect(url_for("users.index"))


@bp.post("/<int:user_id>/<any(pause, activate, suspend, unsuspend):action>")
def set_flag(user_id: int, action: str):  # type: ignore[no-untyped-def]
    me = actor()
    flag, value, message = FLAG_ACTIONS[action]
    try:
        with write() as s:
            user = users.set_flag(s, me.tenant_id, user_id, flag, value, me)
            name = user.name
    except Invalid as exc:
        flash(" ".join(sum(exc.errors.values(), [])), "error")
    else:
        flash(message.format(name=name), "success")
    return redirect(request.referrer if _same_list(request.referrer) else url_for("users.index"))


def _same_list(referrer: str | None) -> bool:
    """Return to the filtered list the button was on, but only ever to our own list page."""
    return bool(referrer) and referrer.startswith(request.host_url + "users/")  # type: ignore[union-attr]


@bp.post("/<int:user_id>/sip-secret")
def reveal_sip_secret(user_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        user = users.get_user(s, me.tenant_id, user_id)
        name, extension = user.name, user.extension
        secret = users.sip_secret(s, me.tenant_id, user_id, me)
    response = render_template(
        "users/sip_secret.html", user_id=user_id, name=name, extension=extension, secret=secret
    )
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/<int:user_id>/sip-secret/regenerate")
def regenerate_sip_secret(user_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        users.regenerate_sip_secret(s, me.tenant_id, user_id, me)
    flash("A new SIP secret was generated; the phone must be provisioned with it again.", "success")
    return redirect(url_for("users.edit", user_id=user_id))


@bp.route("/<int:user_id>/delete", methods=["GET", "POST"])
def delete(user_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    user = users.get_user(db(), me.tenant_id, user_id)
    error = ""
    if request.method == "POST":
        name = user.name
        try:
            with write() as s:
                users.delete_user(
                    s, me.tenant_id, user_id, me, acknowledged=checkbox(request.form, "acknowledged")
                )
        except Conflict as exc:
            error = str(exc)
        else:
            flash(f"User {name} deleted.", "success")
            return redirect(url_for("users.index"))
        user = users.get_user(db(), me.tenant_id, user_id)
    page = render_template(
        "users/delete.html",
        user=user,
        dependencies=users.dependencies(db(), me.tenant_id, user_id),
        error=error,
        is_me=user.id == me.id,
    )
    return page, 400 if error else 200
