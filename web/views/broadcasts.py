"""Broadcasts: a recording played to, or a text sent to, contacts chosen by tag or by name.

Start now or at a scheduled time, pause, resume, cancel; the page shows the progress live and
each recipient's result, which downloads as CSV.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from control.errors import Invalid, NotFound
from control.models import Broadcast, Contact
from control.models.broadcasts import BROADCAST_KINDS
from control.services import (
    broadcast_recordings,
    broadcast_results,
    broadcast_sending,
    broadcasts,
    contacts,
    lines,
    tags,
    tenants,
)
from control.validators import BROADCAST_CONCURRENT, BROADCAST_RATE
from web.auth import actor
from web.db import db, write
from web.forms import form_data
from web.views.query_args import form_ids, page_arg

ADMIN_AREA = True
bp = Blueprint("broadcasts", __name__, url_prefix="/broadcasts")

KIND_LABELS = {"voice": "Voice message", "text": "Text message"}
IF_MISSED_LABELS = {"start": "Start when it is back", "missed": "Mark it as missed"}
#: The operator's buttons, by action.
ACTION_LABELS = {
    "schedule": "Schedule",
    "unschedule": "Back to draft",
    "start": "Start now",
    "pause": "Pause",
    "resume": "Resume",
    "cancel": "Cancel broadcast",
}
ACTION_DONE = {
    "schedule": "is scheduled",
    "unschedule": "is a draft again",
    "start": "is sending",
    "pause": "is paused",
    "resume": "is sending again",
    "cancel": "is cancelled",
}
#: The tenant's throttle, shown on the list: (field, label, bounds)
LIMITS = (
    ("broadcast_calls_per_second", "Calls or texts a second", BROADCAST_RATE),
    ("broadcast_max_concurrent", "Calls at once", BROADCAST_CONCURRENT),
)
CONTACT_CHOICES = 200  # contacts offered at once; the search box finds the others
_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


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
        tenant=tenants.get_tenant(db(), me.tenant_id),
        limits=LIMITS,
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
        if_missed_options=list(IF_MISSED_LABELS.items()),
        if_missed_labels=IF_MISSED_LABELS,
        line_options=[(line.id, line.name) for line in lines.all_lines(db(), me.tenant_id)],
        tag_options=[(t.id, t.name) for t in tags.all_tags(db(), me.tenant_id)],
        contact_options=_contact_options(me.tenant_id, "", data.get("contact_ids") or []),
        audience=broadcasts.audience(db(), broadcast) if broadcast else None,
        editable=broadcast is None or broadcast.status in broadcasts.EDITABLE,
        actions=[
            (action, ACTION_LABELS[action])
            for action in broadcast_sending.ACTIONS
            if broadcast.status in broadcast_sending.ALLOWED[action]
        ]
        if broadcast
        else [],
        progress=broadcast_sending.progress(db(), broadcast.id) if broadcast else None,
        recipients=broadcast_sending.recipients(db(), me.tenant_id, broadcast.id) if broadcast else [],
        max_recording_mb=broadcast_recordings.MAX_BYTES // (1024 * 1024),
    )
    return page, 400 if errors else 200


@bp.post("/limits")
def limits():  # type: ignore[no-untyped-def]
    """The tenant's broadcast throttle (all its broadcasts together)."""
    me = actor()
    try:
        with write() as s:
            tenants.update_broadcast_limits(s, me.tenant_id, form_data(request.form), me)
    except Invalid as exc:
        labels = {field: label for field, label, _ in LIMITS}
        flash(" ".join(f"{labels.get(f, f)}: {' '.join(m)}" for f, m in exc.errors.items()), "error")
    else:
        flash("Sending limits saved.", "success")
    return redirect(url_for("broadcasts.index"))


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


@bp.post("/<int:broadcast_id>/action")
def act(broadcast_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    action = request.form.get("action", "")
    try:
        with write() as s:
            name = broadcast_sending.act(s, me.tenant_id, broadcast_id, action, me).name
    except Invalid as exc:
        flash(" ".join(sum(exc.errors.values(), [])), "error")
    else:
        flash(f"{name} {ACTION_DONE[action]}.", "success")
    return redirect(url_for("broadcasts.edit", broadcast_id=broadcast_id))


@bp.post("/<int:broadcast_id>/recording")
def recording(broadcast_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    upload = request.files.get("recording")
    data = upload.read(broadcast_recordings.MAX_BYTES + 1) if upload is not None else b""
    try:
        with write() as s:
            broadcast_recordings.save_recording(s, me.tenant_id, broadcast_id, data, me)
    except Invalid as exc:
        flash(" ".join(sum(exc.errors.values(), [])), "error")
    else:
        flash("Recording saved, converted for the phones.", "success")
    return redirect(url_for("broadcasts.edit", broadcast_id=broadcast_id))


@bp.get("/<int:broadcast_id>/results")
def results(broadcast_id: int):  # type: ignore[no-untyped-def]
    """The progress and the per-recipient table (the live region reloads this)."""
    me = actor()
    broadcast = broadcasts.get_broadcast(db(), me.tenant_id, broadcast_id)
    return render_template(
        "broadcasts/_results.html",
        broadcast=broadcast,
        progress=broadcast_sending.progress(db(), broadcast.id),
        recipients=broadcast_sending.recipients(db(), me.tenant_id, broadcast.id),
    )


@bp.get("/<int:broadcast_id>/results.csv")
def results_csv(broadcast_id: int) -> Response:
    me = actor()
    broadcast = broadcasts.get_broadcast(db(), me.tenant_id, broadcast_id)
    # Read whole within the request: a stream would keep the request's transaction (and its
    # locks) open until the client had read the last row.
    rows = list(broadcast_results.export_csv(db(), me.tenant_id, broadcast.id))
    return Response(
        rows,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="broadcast-{broadcast.id}-results.csv"'},
    )


@bp.post("/<int:broadcast_id>/delete")
def delete(broadcast_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        name = broadcasts.get_broadcast(s, me.tenant_id, broadcast_id).name
        broadcasts.delete_broadcast(s, me.tenant_id, broadcast_id, me)
    flash(f"Broadcast {name} deleted.", "success")
    return redirect(url_for("broadcasts.index"))
