"""Contacts: the tenant's shared directory (external contacts) and the team, with favourites."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from control.errors import Invalid
from control.models import Contact
from control.services import contacts, presence, tags, users
from web.auth import actor
from web.db import db, write
from web.forms import checkbox, form_data
from web.views.query_args import id_arg, page_arg

ADMIN_AREA = True
bp = Blueprint("contacts", __name__, url_prefix="/contacts")


@bp.get("/")
def index() -> str:
    me = actor()
    page = contacts.list_contacts(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        tag_id=id_arg("tag"),
        scope="shared",
        starred_first_for=me.id,
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    starred, _ = contacts.favourite_ids(db(), me.id)
    return render_template(
        "contacts/index.html",
        page=page,
        starred=starred,
        tags=tags.all_tags(db(), me.tenant_id),
    )


@bp.get("/team")
def team() -> str:
    """Team contacts are the users themselves: listed here, created and edited as users."""
    me = actor()
    page = users.list_users(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    _, starred = contacts.favourite_ids(db(), me.id)
    return render_template(
        "contacts/team.html",
        page=page,
        starred=starred,
        can_edit_users="users.edit" in current_app.config.get("NAV_ENDPOINTS", ()),
        presence=presence.states_by_user(db(), actor().tenant_id, [u.id for u in page.items]),
    )


def _submitted() -> dict[str, Any]:
    data = form_data(request.form, "numbers")
    # Rows left empty are ignored (the service does the same, so error indexes match the rows).
    data["numbers"] = [row for row in data["numbers"] if str(row.get("number") or "").strip()]
    data.setdefault("tag_ids", [])
    data["do_not_call"] = checkbox(request.form, "do_not_call")
    return data


def _form(contact: Contact | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    me = actor()
    rows = data.get("numbers") or [{"label": "mobile", "number": ""}]
    page = render_template(
        "contacts/form.html",
        contact=contact,
        data=data,
        rows=rows,
        errors=errors,
        label_options=[(label, label.capitalize()) for label in contacts.NUMBER_LABELS],
        tag_options=[(t.id, t.name) for t in tags.all_tags(db(), me.tenant_id)],
        starred=contact is not None and contact.id in contacts.favourite_ids(db(), me.id)[0],
    )
    return page, 400 if errors else 200


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"tag_ids": []}, {})
    me = actor()
    data = _submitted()
    try:
        with write() as s:
            contact = contacts.create_contact(s, me.tenant_id, data, me)
            name = contact.display_name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Contact {name} created.", "success")
    return redirect(url_for("contacts.index"))


@bp.route("/<int:contact_id>", methods=["GET", "POST"])
def edit(contact_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    contact = contacts.get_contact(db(), me.tenant_id, contact_id)
    if contact.owner_user_id is not None:
        abort(404)  # a user's own phonebook entry is not part of the shared directory
    if request.method == "GET":
        data = contacts.contact_data(contact) | {"tag_ids": [t.id for t in contact.tags]}
        return _form(contact, data, {})
    data = _submitted()
    try:
        with write() as s:
            contacts.update_contact(s, me.tenant_id, contact_id, data, me)
    except Invalid as exc:
        return _form(contacts.get_contact(db(), me.tenant_id, contact_id), data, exc.errors)
    flash("Contact saved.", "success")
    return redirect(url_for("contacts.index"))


@bp.post("/<int:contact_id>/delete")
def delete(contact_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    contact = contacts.get_contact(db(), me.tenant_id, contact_id)
    if contact.owner_user_id is not None:
        abort(404)
    name = contact.display_name
    with write() as s:
        contacts.delete_contact(s, me.tenant_id, contact_id, me)
    flash(f"Contact {name} deleted.", "success")
    return redirect(url_for("contacts.index"))


def _star(url: str, on: bool, name: str):  # type: ignore[no-untyped-def]
    if request.headers.get("HX-Request"):
        return render_template("contacts/_star.html", url=url, on=on, name=name)
    flash(f"{name} {'added to' if on else 'removed from'} your favourites.", "success")
    return redirect(request.referrer if _same_area(request.referrer) else url_for("contacts.index"))


def _same_area(referrer: str | None) -> bool:
    return bool(referrer) and referrer.startswith(request.host_url + "contacts/")  # type: ignore[union-attr]


@bp.post("/<int:contact_id>/favourite")
def favourite(contact_id: int):  # type: ignore[no-untyped-def]
    """Star or unstar a contact for the logged-in user (in place with htmx)."""
    me = actor()
    on = checkbox(request.form, "on")
    with write() as s:
        contacts.set_favourite(s, me, contact_id=contact_id, on=on)
        name = contacts.get_contact(s, me.tenant_id, contact_id).display_name
    return _star(url_for("contacts.favourite", contact_id=contact_id), on, name)


@bp.post("/team/<int:user_id>/favourite")
def favourite_user(user_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    on = checkbox(request.form, "on")
    with write() as s:
        contacts.set_favourite(s, me, favourite_user_id=user_id, on=on)
        name = users.get_user(s, me.tenant_id, user_id).name
    return _star(url_for("contacts.favourite_user", user_id=user_id), on, name)
