"""Phone numbers: boxes with status dots, filters, add, assign, transfer, do-not-use, release."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Invalid
from control.models import PhoneNumber
from control.models.numbers import NUMBER_STATUSES, NUMBER_TYPES
from control.services import lines, teams, users
from control.services import numbers as numbers_service
from control.validators import row_id
from web.auth import actor
from web.db import db, write
from web.forms import checkbox, form_data
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("numbers", __name__, url_prefix="/numbers")

TYPE_LABELS = {
    "local": "Local",
    "toll_free": "Toll free",
    "mobile": "Mobile",
    "fixed_line_or_mobile": "Fixed line or mobile",
    "other": "Other",
}
STATUS_LABELS = {
    "pending": "Pending",
    "active": "Active",
    "high_risk": "High risk",
    "to_be_cancelled": "To be cancelled",
    "released": "Released",
}
# The dot on each number: red high risk, green active, yellow pending (seed 002).
STATUS_COLOURS = {
    "high_risk": "#ef4444",
    "active": "#22c55e",
    "pending": "#eab308",
    "to_be_cancelled": "#f97316",
    "released": "#9ca3af",
}
# Statuses an admin can set by editing; "released" only comes from Unrent.
EDITABLE_STATUSES = tuple(s for s in NUMBER_STATUSES if s != "released")


@bp.get("/")
def index() -> str:
    me = actor()
    page = numbers_service.list_numbers(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        status=request.args.get("status", ""),
        number_type=request.args.get("type", ""),
        country=request.args.get("country", ""),
        assigned=request.args.get("assigned", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    counts = numbers_service.number_status_counts(db(), me.tenant_id)
    return render_template(
        "numbers/index.html",
        page=page,
        counts={status: counts.get(status, 0) for status in NUMBER_STATUSES},
        countries=numbers_service.number_countries(db(), me.tenant_id),
        types=NUMBER_TYPES,
        **_labels(me.tenant_id),
    )


def _labels(tenant_id: int) -> dict[str, Any]:
    return {
        "team_names": {t.id: t.name for t in teams.all_teams(db(), tenant_id)},
        "user_names": {u.id: u.name for u in users.all_users(db(), tenant_id)},
        "line_names": {line.id: line.name for line in lines.all_lines(db(), tenant_id)},
        "type_labels": TYPE_LABELS,
        "status_labels": STATUS_LABELS,
        "status_colours": STATUS_COLOURS,
    }


def _form(number: PhoneNumber | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    me = actor()
    labels = _labels(me.tenant_id)
    page = render_template(
        "numbers/form.html",
        number=number,
        data=data,
        errors=errors,
        status_options=[(s, STATUS_LABELS[s]) for s in EDITABLE_STATUSES],
        team_options=list(labels["team_names"].items()),
        user_options=list(labels["user_names"].items()),
        line_options=list(labels["line_names"].items()),
        **labels,
    )
    return page, 400 if errors else 200


def _submitted() -> dict[str, Any]:
    data = form_data(request.form)
    data["do_not_use"] = checkbox(request.form, "do_not_use")
    return data


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"status": "active"}, {})
    me = actor()
    data = _submitted()
    try:
        with write() as s:
            number = numbers_service.create_number(s, me.tenant_id, data, me)
            e164 = number.e164
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Number {e164} added.", "success")
    return redirect(url_for("numbers.index"))


def _current(number: PhoneNumber) -> dict[str, Any]:
    return {
        "status": number.status,
        "cancel_at": number.cancel_at.strftime("%Y-%m-%dT%H:%M") if number.cancel_at else "",
        "do_not_use": number.do_not_use,
        "team_id": number.team_id,
        "user_id": number.user_id,
        "line_id": number.line_id,
    }


@bp.route("/<int:number_id>", methods=["GET", "POST"])
def edit(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    number = numbers_service.get_number(db(), me.tenant_id, number_id)
    if request.method == "GET":
        return _form(number, _current(number), {})
    data = _submitted()
    try:
        with write() as s:
            numbers_service.update_number(s, me.tenant_id, number_id, data, me)
    except Invalid as exc:
        return _form(numbers_service.get_number(db(), me.tenant_id, number_id), data, exc.errors)
    flash("Number saved.", "success")
    return redirect(url_for("numbers.index"))


@bp.post("/<int:number_id>/transfer")
def transfer(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    number = numbers_service.get_number(db(), me.tenant_id, number_id)
    line_id = row_id(request.form.get("transfer_line_id", ""))
    errors: dict[str, list[str]] = {}
    if line_id is None:
        errors["transfer_line_id"] = ["Choose the line to move the number to."]
    elif line_id == number.line_id:
        errors["transfer_line_id"] = ["The number is already on this line."]
    else:
        try:
            with write() as s:
                moved = numbers_service.transfer_number(s, me.tenant_id, number_id, line_id, me)
                line = lines.get_line(s, me.tenant_id, line_id)
                message = f"{moved.e164} now routes to {line.name}."
        except Invalid as exc:
            errors = {"transfer_line_id": [m for messages in exc.errors.values() for m in messages]}
    if errors:
        number = numbers_service.get_number(db(), me.tenant_id, number_id)
        return _form(number, _current(number), errors)
    flash(message, "success")
    return redirect(url_for("numbers.edit", number_id=number_id))


@bp.post("/<int:number_id>/do-not-use")
def toggle_do_not_use(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    try:
        with write() as s:
            number = numbers_service.get_number(s, me.tenant_id, number_id)
            value = not number.do_not_use
            numbers_service.update_number(s, me.tenant_id, number_id, {"do_not_use": value}, me)
            e164 = number.e164
    except Invalid as exc:
        flash(" ".join(m for messages in exc.errors.values() for m in messages), "error")
    else:
        if value:
            flash(f"{e164} is no longer used for outbound calls and texts.", "success")
        else:
            flash(f"{e164} can be used again.", "success")
    return redirect(url_for("numbers.index"))


@bp.post("/<int:number_id>/release")
def release(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    number = numbers_service.get_number(db(), me.tenant_id, number_id)
    if number.status == "released":
        flash(f"{number.e164} is already released.", "error")
        return redirect(url_for("numbers.index"))
    with write() as s:
        released = numbers_service.release_number(s, me.tenant_id, number_id, me)
        e164 = released.e164
    flash(f"{e164} was released; it is gone for good.", "success")
    return redirect(url_for("numbers.index"))


@bp.post("/<int:number_id>/delete")
def delete(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        e164 = numbers_service.get_number(s, me.tenant_id, number_id).e164
        numbers_service.delete_number(s, me.tenant_id, number_id, me)
    flash(f"Number {e164} deleted.", "success")
    return redirect(url_for("numbers.index"))
