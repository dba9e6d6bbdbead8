"""The audit log: a read-only list of who did what, filtered by action family."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from control.services import audit
from web.auth import actor
from web.db import db
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
def index() -> str:
    me = actor()
    page = audit.list_entries(
        db(),
        me.tenant_id,
        action_prefix=request.args.get("action", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template(
        "audit/index.html",
        page=page,
        families=audit.action_families(db(), me.tenant_id),
        actors=audit.actor_names(db(), page.items),
    )
