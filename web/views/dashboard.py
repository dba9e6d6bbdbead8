"""The landing page: what is in the tenant at a glance."""

from __future__ import annotations

from flask import Blueprint, render_template

from control.services import lines, numbers, users
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
        user_counts=users.user_status_counts(s, me.tenant_id),
        line_counts=lines.line_status_counts(s, me.tenant_id),
        number_counts=numbers.number_status_counts(s, me.tenant_id),
    )
