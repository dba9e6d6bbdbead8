"""Activity per line and per user: missed, answered and outbound calls, each linking to its call.

Admins see the whole tenant's activity, filtered by line or user; an agent sees their own
activity and call history (never a line's, never another user's).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from control.models import User
from control.services import activity, automations, calls, lines, users
from web.auth import actor
from web.db import db, write
from web.views.query_args import id_arg, page_arg

bp = Blueprint("activity", __name__, url_prefix="/activity")

PER_PAGE = 50


def _people(me: User) -> dict[int, User]:
    if me.role != "admin":
        return {me.id: me}
    return {u.id: u for u in users.all_users(db(), me.tenant_id)}


@bp.get("/")
def index() -> str:
    me = actor()
    s = db()
    admin = me.role == "admin"
    user_id = id_arg("user_id") if admin else me.id
    line_id = id_arg("line_id") if admin else None
    archived = request.args.get("archived") == "1"
    page = activity.page_activity(
        s,
        me.tenant_id,
        line_id=line_id,
        user_id=user_id,
        include_archived=archived,
        q=request.args.get("q", ""),
        kind=request.args.get("kind", ""),
        page=page_arg(),
        per_page=PER_PAGE,
    )
    all_lines = {line.id: line for line in lines.all_lines(s, me.tenant_id)} if admin else {}
    run_ids = [item.automation_run_id for item, _, _ in page.items if item.automation_run_id]
    return render_template(
        "activity/index.html",
        page=page,
        kinds=activity.KINDS,
        admin=admin,
        people=_people(me),
        lines=all_lines,
        user_id=user_id,
        line_id=line_id,
        archived=archived,
        heading=_heading(me, user_id, line_id, all_lines),
        run_automations=automations.run_automation_ids(s, me.tenant_id, run_ids) if admin else {},
    )


def _heading(me: User, user_id: int | None, line_id: int | None, all_lines: dict) -> str:
    if me.role != "admin":
        return "My activity"
    if line_id is not None:
        line = all_lines.get(line_id)
        return f"Activity of {line.name}" if line else "Activity"
    if user_id is not None:
        return f"Activity of {users.get_user(db(), me.tenant_id, user_id).name}"
    return "Activity"


@bp.post("/<int:item_id>/archive")
def archive(item_id: int) -> Response | str:
    """Hide an item; htmx swaps its row out (or marks it archived while archived items are shown)."""
    me = actor()
    with write() as s:
        activity.archive(s, me.tenant_id, item_id, me)
        item, call, message = activity.get_row(s, me.tenant_id, item_id)
        runs = automations.run_automation_ids(s, me.tenant_id, [item.automation_run_id or 0])
    if request.headers.get("HX-Request"):
        if request.form.get("archived") != "1":
            return ""
        return render_template(
            "activity/_row.html",
            item=item,
            call=call,
            message=message,
            run_automations=runs if me.role == "admin" else {},
            admin=me.role == "admin",
            people=_people(me),
            lines={line.id: line for line in lines.all_lines(db(), me.tenant_id)},
            archived=True,
        )
    flash("Activity archived.", "success")
    return redirect(_back())


def _back() -> str:
    """Return to the filtered activity page the button was on, only ever our own."""
    referrer = request.referrer or ""
    if referrer.startswith(request.host_url + "activity/"):
        return referrer
    return url_for("activity.index")


@bp.get("/calls")
def history() -> str:
    """The logged-in user's own calls (admins have the whole history under /calls)."""
    me = actor()
    page = calls.list_calls(
        db(),
        me.tenant_id,
        user_id=me.id,
        q=request.args.get("q", ""),
        page=page_arg(),
        sort=None,
    )
    return render_template("activity/history.html", page=page, me=me)


@bp.get("/calls/<int:call_id>")
def call(call_id: int) -> str:
    """One of the user's own calls; admins may open any (the same page as /calls/<id>)."""
    me = actor()
    record = calls.get_call_for(db(), me.tenant_id, call_id, me)
    return render_template(
        "calls/show.html", call=record, details=calls.describe_call(db(), record), admin=me.role == "admin"
    )
