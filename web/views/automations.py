"""Automations: when a call event happens (optionally on one line), run ordered steps."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Invalid
from control.models import Automation
from control.models.automations import AUTOMATION_ACTIONS, AUTOMATION_TRIGGERS
from control.services import automations, lines, tags, users
from web.auth import actor
from web.db import db, write
from web.forms import form_data
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("automations", __name__, url_prefix="/automations")

TRIGGER_LABELS = {
    "call_missed": "A call is missed",
    "call_answered": "A call is answered",
    "call_outbound": "An outbound call is made",
    "voicemail": "A voicemail is left",
}
ACTION_LABELS = {
    "add_tag": "Tag the caller",
    "notify_user": "Notify a user",
    "send_text": "Send a text to the caller",
    "webhook": "Call a webhook",
}


@bp.get("/")
def index() -> str:
    me = actor()
    page = automations.list_automations(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        status=request.args.get("status", ""),
        trigger=request.args.get("trigger", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template(
        "automations/index.html",
        page=page,
        counts=automations.automation_status_counts(db(), me.tenant_id),
        triggers=TRIGGER_LABELS,
        actions=ACTION_LABELS,
        line_names={line.id: line.name for line in lines.all_lines(db(), me.tenant_id)},
    )


def _submitted() -> dict[str, Any]:
    data = form_data(request.form, "steps")
    # Rows without an action are ignored (the service does the same, so error indexes match).
    data["steps"] = [row for row in data["steps"] if row.get("action")]
    data.pop("refresh", None)
    data.pop("status", None)  # changed only by Pause/Activate
    return data


def _form(
    automation: Automation | None, data: dict[str, Any], errors: dict[str, list[str]]
) -> tuple[str, int]:
    me = actor()
    page = render_template(
        "automations/form.html",
        automation=automation,
        data=data,
        steps=data.get("steps") or [{"action": "add_tag"}],
        errors=errors,
        trigger_options=[(t, TRIGGER_LABELS[t]) for t in AUTOMATION_TRIGGERS],
        action_options=[(a, ACTION_LABELS[a]) for a in AUTOMATION_ACTIONS],
        line_options=[(line.id, line.name) for line in lines.all_lines(db(), me.tenant_id)],
        value_options={
            "add_tag": [(t.id, t.name) for t in tags.all_tags(db(), me.tenant_id)],
            "notify_user": [(u.id, u.name) for u in users.all_users(db(), me.tenant_id)],
        },
    )
    return page, 400 if errors else 200


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"trigger": "call_missed"}, {})
    me = actor()
    data = _submitted()
    if "refresh" in request.form:
        return _form(None, data, {})
    try:
        with write() as s:
            automation = automations.create_automation(s, me.tenant_id, data, me)
            name = automation.name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Automation {name} created and active.", "success")
    return redirect(url_for("automations.index"))


@bp.route("/<int:automation_id>", methods=["GET", "POST"])
def edit(automation_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    automation = automations.get_automation(db(), me.tenant_id, automation_id)
    if request.method == "GET":
        return _form(automation, automations.automation_data(automation), {})
    data = _submitted()
    if "refresh" in request.form:
        return _form(automation, data, {})
    try:
        with write() as s:
            automations.update_automation(s, me.tenant_id, automation_id, data, me)
    except Invalid as exc:
        return _form(automations.get_automation(db(), me.tenant_id, automation_id), data, exc.errors)
    flash("Automation saved.", "success")
    return redirect(url_for("automations.index"))


@bp.post("/<int:automation_id>/<any(pause, activate):action>")
def set_status(automation_id: int, action: str):  # type: ignore[no-untyped-def]
    me = actor()
    status = "paused" if action == "pause" else "active"
    with write() as s:
        name = automations.set_status(s, me.tenant_id, automation_id, status, me).name
    flash(f"Automation {name} {'paused' if status == 'paused' else 'activated'}.", "success")
    return redirect(request.referrer if _same_area(request.referrer) else url_for("automations.index"))


def _same_area(referrer: str | None) -> bool:
    """Return to the filtered list or page the button was on, but only within this area."""
    return bool(referrer) and referrer.startswith(request.host_url + "automations/")  # type: ignore[union-attr]


@bp.post("/<int:automation_id>/delete")
def delete(automation_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        name = automations.get_automation(s, me.tenant_id, automation_id).name
        automations.delete_automation(s, me.tenant_id, automation_id, me)
    flash(f"Automation {name} deleted.", "success")
    return redirect(url_for("automations.index"))
