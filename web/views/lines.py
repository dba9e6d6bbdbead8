"""Lines: numbers routed to one destination; status tabs, pause/activate, duplicate, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Invalid
from control.models import DESTINATION_KINDS, Line
from control.services import destinations, lines, numbers, queues, ring_groups, users
from web.auth import actor
from web.db import db, write
from web.forms import form_data
from web.views.query_args import form_ids, page_arg

ADMIN_AREA = True
bp = Blueprint("lines", __name__, url_prefix="/lines")

KIND_LABELS = {
    "user": "A user",
    "ring_group": "A ring group",
    "queue": "A queue",
    "extension": "An extension",
    "external": "An external number",
    "hangup": "Hang up",
}
# The seed's rule: a default caller ID is only offered once a line has two or more numbers.
MIN_NUMBERS_FOR_DEFAULT = 2


@bp.get("/")
def index() -> str:
    me = actor()
    page = lines.list_lines(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        status=request.args.get("status", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template(
        "lines/index.html",
        page=page,
        counts=lines.line_status_counts(db(), me.tenant_id),
        destinations={line.id: destinations.describe(db(), line, "destination") for line in page.items},
    )


def _target_options(tenant_id: int, kind: str) -> list[tuple[int, str]]:
    if kind == "user":
        return [
            (u.id, f"{u.name} ({u.extension})" if u.extension else u.name)
            for u in users.all_users(db(), tenant_id)
        ]
    if kind == "ring_group":
        return [(g.id, f"{g.name} ({g.extension})") for g in ring_groups.all_ring_groups(db(), tenant_id)]
    if kind == "queue":
        return [(q.id, f"{q.name} ({q.extension})") for q in queues.all_queues(db(), tenant_id)]
    return []


def _form(line: Line | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    me = actor()
    candidates = numbers.unreleased_numbers(db(), me.tenant_id)
    line_names = {other.id: other.name for other in lines.all_lines(db(), me.tenant_id)}
    own_line_id = line.id if line else None
    number_options = []
    for number in candidates:
        label = number.e164
        if number.line_id and number.line_id != own_line_id:
            label += f" (now on {line_names.get(number.line_id, 'another line')})"
        if number.do_not_use:
            label += " (do not use)"
        number_options.append((number.id, label))
    chosen = set(form_ids(data.get("number_ids")))
    caller_id_options = [(n.id, n.e164) for n in candidates if n.id in chosen and not n.do_not_use]
    kind = str(data.get("destination_kind") or "")
    page = render_template(
        "lines/form.html",
        line=line,
        data=data,
        errors=errors,
        kind_options=[(k, KIND_LABELS[k]) for k in DESTINATION_KINDS],
        kind=kind,
        target_options=_target_options(me.tenant_id, kind),
        number_options=number_options,
        offer_default_caller_id=len(chosen) >= MIN_NUMBERS_FOR_DEFAULT,
        caller_id_options=caller_id_options,
    )
    return page, 400 if errors else 200


def _submitted() -> dict[str, Any]:
    data = form_data(request.form)
    data.setdefault("number_ids", [])
    # Absent when the line had fewer than two numbers: then it has no default caller ID.
    data.setdefault("default_caller_id_id", "")
    data.setdefault("destination_target", "")
    return data


@bp.get("/destination-target")
def destination_target() -> str:
    """The target field for the chosen destination kind (swapped in by htmx)."""
    kind = request.args.get("destination_kind", "")
    return render_template(
        "lines/_target.html",
        kind=kind if kind in DESTINATION_KINDS else "",
        value="",
        errors={},
        target_options=_target_options(actor().tenant_id, kind),
    )


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"number_ids": []}, {})
    me = actor()
    data = _submitted()
    try:
        with write() as s:
            line = lines.create_line(s, me.tenant_id, data, me)
            name = line.name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Line {name} created.", "success")
    return redirect(url_for("lines.index"))


@bp.route("/<int:line_id>", methods=["GET", "POST"])
def edit(line_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    line = lines.get_line(db(), me.tenant_id, line_id)
    if request.method == "GET":
        data = {
            "name": line.name,
            "destination_kind": line.destination_kind or "",
            "destination_target": destinations.target_of(line, "destination"),
            "number_ids": [n.id for n in line.numbers],
            "default_caller_id_id": line.default_caller_id_id,
        }
        return _form(line, data, {})
    data = _submitted()
    try:
        with write() as s:
            lines.update_line(s, me.tenant_id, line_id, data, me)
    except Invalid as exc:
        return _form(lines.get_line(db(), me.tenant_id, line_id), data, exc.errors)
    flash("Line saved.", "success")
    return redirect(url_for("lines.index"))


@bp.post("/<int:line_id>/<any(pause, activate):action>")
def set_status(line_id: int, action: str):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        line = lines.set_status(s, me.tenant_id, line_id, "paused" if action == "pause" else "active", me)
        name = line.name
    flash(f"Line {name} {'paused' if action == 'pause' else 'activated'}.", "success")
    return redirect(url_for("lines.index"))


@bp.post("/<int:line_id>/duplicate")
def duplicate(line_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        copy = lines.duplicate_line(s, me.tenant_id, line_id, me)
        copy_id, name = copy.id, copy.name
    flash(f"Created {name}: the settings were copied, numbers stay on the original line.", "success")
    return redirect(url_for("lines.edit", line_id=copy_id))


@bp.post("/<int:line_id>/delete")
def delete(line_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        name = lines.get_line(s, me.tenant_id, line_id).name
        lines.delete_line(s, me.tenant_id, line_id, me)
    flash(f"Line {name} deleted; its numbers are unassigned; its history keeps the name {name}.", "success")
    return redirect(url_for("lines.index"))
