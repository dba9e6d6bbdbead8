"""The agent portal's phonebook: the logged-in user's own contacts (admins get theirs too)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from control.errors import Invalid
from control.services import phonebook
from web.auth import actor
from web.db import db, write

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


def _form(contact_id: int | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    page = render_template("portal/phonebook_form.html", contact_id=contact_id, data=data, errors=errors)
    return page, 400 if errors else 200


@bp.route("/phonebook/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    """New contact; `?number=` prefills the number (the history's 'add contact')."""
    if request.method == "GET":
        return _form(None, {"name": "", "number": request.args.get("number", "")[:32], "email": ""}, {})
    data = _submitted()
    try:
        with write() as s:
            name = phonebook.create_entry(s, actor(), data).display_name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"{name} added to your phonebook.", "success")
    return redirect(url_for("portal.phonebook"))


@bp.route("/phonebook/<int:contact_id>", methods=["GET", "POST"])
def edit(contact_id: int):  # type: ignore[no-untyped-def]
    entry = phonebook.get_entry(db(), actor(), contact_id)
    if request.method == "GET":
        return _form(contact_id, phonebook.entry_data(entry), {})
    data = _submitted()
    try:
        with write() as s:
            phonebook.update_entry(s, actor(), contact_id, data)
    except Invalid as exc:
        return _form(contact_id, data, exc.errors)
    flash("Contact saved.", "success")
    return redirect(url_for("portal.phonebook"))


@bp.post("/phonebook/<int:contact_id>/delete")
def delete(contact_id: int) -> Response:
    with write() as s:
        name = phonebook.get_entry(s, actor(), contact_id).display_name
        phonebook.delete_entry(s, actor(), contact_id)
    flash(f"{name} deleted from your phonebook.", "success")
    return redirect(url_for("portal.phonebook"))
