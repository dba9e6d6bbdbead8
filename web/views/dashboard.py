"""The landing page: for an admin a live dashboard (today's calls, calls up now, phones, PBX nodes,
the latest activity), reloaded over the live event stream; for an agent their own links."""

from __future__ import annotations

from flask import Blueprint, render_template

from control.services import dashboard, lines, users
from web.auth import actor
from web.db import db

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> str:
    me = actor()
    if me.role != "admin":
        return render_template("dashboard/agent.html", me=me)
    s = db()
    return render_template(
        "dashboard/index.html",
        me=me,
        today=dashboard.calls_today(s, me.tenant_id),
        live_calls=dashboard.live_calls(s, me),
        phones=dashboard.phones(s, me.tenant_id),
        nodes=dashboard.node_states(s, me.tenant_id),
        latest=dashboard.latest_activity(s, me.tenant_id),
        people={u.id: u for u in users.all_users(s, me.tenant_id)},
        lines={line.id: line for line in lines.all_lines(s, me.tenant_id)},
        ago=dashboard.ago,
    )
