"""Automations: when a call, a text, a number's status or a schedule says so, run ordered steps;
each run's log, step by step."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Invalid
from control.models import Automation
from control.models.automations import AUTOMATION_ACTIONS, AUTOMATION_TRIGGERS, RUN_STATES
from control.models.numbers import NUMBER_STATUSES
from control.services import automations, lines, tags, users
from web.auth import actor
from web.db import db, write
from web.forms import form_data
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("automations", __name__, url_prefix="/automations")

TRIGGER_LABELS = {
    "call_missed": "A call on a line is missed",
    "call_ended": "A call ends",
    "text_received": "A text arrives on a line",
    "number_status": "A number's status changes",
    "schedule": "On a schedule",
}
ACTION_LABELS = {
    "wait": "Wait",
    "send_text": "Send a text to the caller",
    "callback": "Call the caller back",
    "webhook": "Call a webhook",
    "add_tag": "Tag the caller",
}
DIRECTION_LABELS = {
    "any": "Any direction",
    "inbound": "Inbound",
    "outbound": "Outbound",
    "internal": "Internal",
}
CONDITION_FIELDS = ("direction", "min_duration", "max_duration", "number_status")
RUNS_PER_PAGE = 25


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
    data["conditions"] = {name: data.pop(name) for name in CONDITION_FIELDS if name in data}
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
        conditions=data.get("conditions") or {},
        steps=data.get("steps") or [{"action": "send_text"}],
        errors=errors,
        trigger_options=[(t, TRIGGER_LABELS[t]) for t in AUTOMATION_TRIGGERS],
        action_options=[(a, ACTION_LABELS[a]) for a in AUTOMATION_ACTIONS],
        direction_options=list(DIRECTION_LABELS.items()),
        number_status_options=[("any", "Any status")]
        + [(s, s.replace("_", " ").capitalize()) for s in NUMBER_STATUSES],
        line_options=[(line.id, line.name) for line in lines.all_lines(db(), me.tenant_id)],
        value_options={
            "add_tag": [(t.id, t.name) for t in tags.all_tags(db(), me.tenant_id)],
            "callback": [(u.id, u.name) for u in users.all_users(db(), me.tenant_id) if u.extension],
        },
    )
    return page, 400 if errors else 200


def _secret_page(automation_id: int, name: str, secret: str, heading: str) -> str:
    """The webhook secret, shown this once (never flashed: a flash travels in the session cookie)."""
    return render_template(
        "automations/secret.html", automation_id=automation_id, name=name, secret=secret, heading=heading
    )


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
            secret = automations.issue_webhook_secret(s, automation, me)
            automation_id, name = automation.id, automation.name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    if secret:
        return _secret_page(automation_id, name, secret, f"Automation {name} created and active")
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
            saved = automations.update_automation(s, me.tenant_id, automation_id, data, me)
            secret = automations.issue_webhook_secret(s, saved, me)
            name = saved.name
    except Invalid as exc:
        return _form(automations.get_automation(db(), me.tenant_id, automation_id), data, exc.errors)
    if secret:
        return _secret_page(automation_id, name, secret, f"Automation {name} saved")
    flash("Automation saved.", "success")
    return redirect(url_for("automations.index"))


@bp.post("/<int:automation_id>/secret")
def rotate_secret(automation_id: int):  # type: ignore[no-untyped-def]
    """A new webhook signing secret; the old one stops working at once."""
    me = actor()
    try:
        with write() as s:
            automation = automations.get_automation(s, me.tenant_id, automation_id)
            secret = automations.issue_webhook_secret(s, automation, me, rotate=True)
            name = automation.name
    except Invalid as exc:
        flash(" ".join(m for ms in exc.errors.values() for m in ms), "error")
        return redirect(url_for("automations.edit", automation_id=automation_id))
    assert secret is not None
    return _secret_page(automation_id, name, secret, f"New webhook secret for {name}")


@bp.get("/<int:automation_id>/runs")
def runs(automation_id: int) -> str:
    me = actor()
    automation = automations.get_automation(db(), me.tenant_id, automation_id)
    state = request.args.get("state", "")
    page = automations.page_runs(
        db(), me.tenant_id, automation_id, state=state, page=page_arg(), per_page=RUNS_PER_PAGE
    )
    return render_template(
        "automations/runs.html",
        automation=automation,
        page=page,
        state=state,
        states=RUN_STATES,
        triggers=TRIGGER_LABELS,
        actions=ACTION_LABELS,
    )


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
