"""Broadcasts: a voice or text message from a line to contacts chosen by tag or by name.

Switchboard records a broadcast's plan and status; sending it is not implemented yet, and the
pages say so rather than suggest that anything goes out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Invalid, NotFound
from control.models import Broadcast, Contact
from control.models.broadcasts import BROADCAST_KINDS
from control.services import broadcasts, contacts, lines, tags
from web.auth import actor
from web.db import db, write
from web.forms import form_data
from web.views.query_args import form_ids, page_arg

ADMIN_AREA = True
bp = Blueprint("broadcasts", __name__, url_prefix="/broadcasts")

KIND_LABELS = {"voice": "Voice message", "text": "Text message"}
# The button for moving to a status, by (current status, next status) or next status alone.
TRANSITION_LABELS = {
    ("paused", "running"): "Resume",
    ("paused", "scheduled"): "Back to scheduled",
    "scheduled": "Schedule",
    "draft": "Back to draft",
    "paused": "Pause",
    "running": "Mark as running",
    "done": "Mark as done",
}
CONTACT_CHOICES = 200  # contacts offered at once; the search box finds the others
_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def transition_label(current: str, target: str) -> str:
    return TRANSITION_LABELS.get((current, target)) or TRANSITION_LABELS[target]  # type: ignore[return-value]


@bp.get("/")
def index() -> str:
    me = actor()
    page = broadcasts.list_broadcasts(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        status=request.args.get("status", ""),
        kind=request.args.get("kind", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template(
        "broadcasts/index.html",
        page=page,
        counts=broadcasts.broadcast_status_counts(db(), me.tenant_id),
        kinds=KIND_LABELS,
        line_names={line.id: line.name for line in lines.all_lines(db(), me.tenant_id)},
    )


def _chosen_contacts(tenant_id: int, ids: list[Any]) -> list[Contact]:
    chosen = []
    for contact_id in form_ids(ids):
        try:
            chosen.append(contacts.get_contact(db(), tenant_id, contact_id))
        except NotFound:
            continue
    return chosen


def _contact_options(tenant_id: int, q: str, chosen_ids: list[Any]) -> list[tuple[int, str]]:
    """The chosen contacts first, then the shared directory (matching `q`)."""
    chosen = _chosen_contacts(tenant_id, chosen_ids)
    found = contacts.list_contacts(db(), tenant_id, q=q, scope="shared", per_page=CONTACT_CHOICES).items
    seen: set[int] = set()
    options = []
    for contact in [*chosen, *found]:
        if contact.id not in seen:
            seen.add(contact.id)
            number = contact.numbers[0].e164 if contact.numbers else ""
            options.append((contact.id, f"{contact.display_name} {number}".strip()))
    return options


def _submitted() -> dict[str, Any]:
    data = form_data(request.form)
    data.setdefault("tag_ids", [])
    data.setdefault("contact_ids", [])
    data.pop("contact_q", None)
    return data


def _form(broadcast: Broadcast | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    me = actor()
    scheduled = data.get("scheduled_at")
    if isinstance(scheduled, datetime):
        data = data | {"scheduled_at": scheduled.strftime(_LOCAL_FORMAT)}
    page = render_template(
        "broadcasts/form.html",
        broadcast=broadcast,
        data=data,
        errors=errors,
        kind_options=[(k, KIND_LABELS[k]) for k in BROADCAST_KINDS],
        line_options=[(line.id, line.name) for line in lines.all_lines(db(), me.tenant_id)],
        tag_options=[(t.id, t.name) for t in tags.all_tags(db(), me.tenant_id)],
        contact_options=_contact_options(me.tenant_id, "", data.get("contact_ids") or []),
        audience=broadcasts.audience(db(), broadcast) if broadcast else None,
        editable=broadcast is None or broadcast.status not in ("running", "done"),
        transitions=[
            (status, transition_label(broadcast.status, status))
            for status in broadcasts.TRANSITIONS.get(broadcast.status, ())
        ]
        if broadcast
        else [],
    )
    return page, 400 if errors else 200


@bp.get("/contact-options")
def contact_options() -> str:
    """The <option>s of the contact picker for a search (chosen contacts stay selected)."""
    me = actor()
    chosen = request.args.getlist("contact_ids")
    return render_template(
        "broadcasts/_contact_options.html",
        options=_contact_options(me.tenant_id, request.args.get("contact_q", ""), chosen),
        chosen={str(c) for c in chosen},
    )


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"kind": "voice", "tag_ids": [], "contact_ids": []}, {})
    me = actor()
    data = _submitted()
    try:
        with write() as s:
            broadcast = broadcasts.create_broadcast(s, me.tenant_id, data, me)
            broadcast_id, name = broadcast.id, broadcast.name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Broadcast {name} saved as a draft.", "success")
    return redirect(url_for("broadcasts.edit", broadcast_id=broadcast_id))


@bp.route("/<int:broadcast_id>", methods=["GET", "POST"])
def edit(broadcast_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    broadcast = broadcasts.get_broadcast(db(), me.tenant_id, broadcast_id)
    if request.method == "GET":
        return _form(broadcast, broadcasts.broadcast_data(broadcast), {})
    data = _submitted()
    try:
        with write() as s:
            broadcasts.update_broadcast(s, me.tenant_id, broadcast_id, data, me)
    except Invalid as exc:
        return _form(broadcasts.get_broadcast(db(), me.tenant_id, broadcast_id), data, exc.errors)
    flash("Broadcast saved.", "success")
    return redirect(url_for("broadcasts.edit", broadcast_id=broadcast_id))


@bp.post("/<int:broadcast_id>/status")
def set_status(broadcast_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    status = request.form.get("status", "")
    try:
        with write() as s:
            broadcast = broadcasts.set_status(s, me.tenant_id, broadcast_id, status, me)
            name = broadcast.name
    except Invalid as exc:
        flash(" ".join(sum(exc.errors.values(), [])), "error")
    else:
        flash(f"{name} is now marked {status}.", "success")
    return redirect(url_for("broadcasts.edit", broadcast_id=broadcast_id))


@bp.post("/<int:broadcast_id>/delete")
def delete(broadcast_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        name = broadcasts.get_broadcast(s, me.tenant_id, broadcast_id).name
        broadcasts.delete_broadcast(s, me.tenant_id, broadcast_id, me)
    flash(f"Broadcast {name} deleted.", "success")
    return redirect(url_for("broadcasts.index"))
