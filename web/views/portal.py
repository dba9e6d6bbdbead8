"""The agent portal's phonebook: the logged-in user's own contacts (admins get theirs too), each
with an optional avatar."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from control.errors import Invalid
from control.services import phonebook
from web.auth import actor
from web.db import db, write
from web.uploads import accepts_upload, uploaded

bp = Blueprint("portal", __name__, url_prefix="/portal")

FIELDS = ("name", "number", "email")


@bp.get("/")
def index() -> Response:
    return redirect(url_for("portal.phonebook"))


@bp.get("/phonebook", endpoint="phonebook")
def phonebook_page() -> str:
    page = phonebook.list_entries(
        db(), actor(), q=request.args.get("q", ""), page=request.args.get("page", 1, type=int)
    )
    return render_template("portal/phonebook.html", page=page)


def _submitted() -> dict[str, Any]:
    return {field: request.form.get(field, "") for field in FIELDS}


def _form(
    contact_id: int | None, data: dict[str, Any], errors: dict[str, list[str]], avatar: str | None = None
) -> tuple[str, int]:
    page = render_template(
        "portal/phonebook_form.html", contact_id=contact_id, data=data, errors=errors, avatar=avatar
    )
    return page, 400 if errors else 200


@bp.route("/phonebook/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    """New contact; `?number=` prefills the number (the history's 'add contact')."""
    if request.method == "GET":
        return _form(None, {"name": "", "number": request.args.get("number", "")[:32], "email": ""}, {})
    data = _submitted()
    try:
        with write() as s:
            name = phonebook.create_entry(s, actor(), data, uploaded("avatar")).display_name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(_("%(name)s added to your phonebook.", name=name), "success")
    return redirect(url_for("portal.phonebook"))


@bp.route("/phonebook/<int:contact_id>", methods=["GET", "POST"])
def edit(contact_id: int):  # type: ignore[no-untyped-def]
    entry = phonebook.get_entry(db(), actor(), contact_id)
    if request.method == "GET":
        return _form(contact_id, phonebook.entry_data(entry), {}, entry.avatar)
    data = _submitted()
    avatar = entry.avatar
    try:
        with write() as s:
            phonebook.update_entry(
                s,
                actor(),
                contact_id,
                data,
                uploaded("avatar"),
                remove_avatar=request.form.get("remove_avatar") == "on",
            )
    except Invalid as exc:
        return _form(contact_id, data, exc.errors, avatar)
    flash(_("Contact saved."), "success")
    return redirect(url_for("portal.phonebook"))


@bp.post("/phonebook/<int:contact_id>/delete")
def delete(contact_id: int) -> Response:
    with write() as s:
        name = phonebook.get_entry(s, actor(), contact_id).display_name
        phonebook.delete_entry(s, actor(), contact_id)
    flash(_("%(name)s deleted from your phonebook.", name=name), "success")
    return redirect(url_for("portal.phonebook"))


accepts_upload("portal.create")
accepts_upload("portal.edit")
