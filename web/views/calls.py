"""Call history for admins: filters by user, line, direction and date; CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context

from control.errors import Invalid
from control.services import calls, lines, users
from web.auth import actor
from web.db import db
from web.views.query_args import id_arg, page_arg

ADMIN_AREA = True
bp = Blueprint("calls", __name__, url_prefix="/calls")


def _date(name: str) -> datetime | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{name}: use YYYY-MM-DD.", name) from None


def _filters() -> dict[str, Any]:
    until = _date("until")
    missed = request.args.get("missed", "")
    return {
        "q": request.args.get("q", ""),
        "user_id": id_arg("user_id"),
        "line_id": id_arg("line_id"),
        "direction": request.args.get("direction", ""),
        "missed": {"yes": True, "no": False}.get(missed),
        "since": _date("since"),
        "until": until + timedelta(days=1) if until else None,
    }


@bp.get("/")
def index() -> str:
    tenant_id = actor().tenant_id
    s = db()
    page = calls.list_calls(s, tenant_id, page=page_arg(), sort=request.args.get("sort"), **_filters())
    people = {u.id: u for u in users.all_users(s, tenant_id)}
    return render_template(
        "calls/index.html",
        page=page,
        people=people,
        lines={line.id: line for line in lines.all_lines(s, tenant_id)},
        directions=calls.DIRECTIONS,
    )


@bp.get("/<int:call_id>")
def show(call_id: int) -> str:
    """One call record: who, which line, ring group or queue, when, and its activity items."""
    s = db()
    call = calls.get_call(s, actor().tenant_id, call_id)
    return render_template("calls/show.html", call=call, details=calls.describe_call(s, call), admin=True)


@bp.get("/export.csv")
def export() -> Response:
    tenant_id = actor().tenant_id
    session = db()
    rows = calls.export_csv(session, tenant_id, **_filters())

    def stream() -> Iterator[str]:
        # The rows are read while the response streams; end that read transaction with the stream
        # (a client that stops reading must not hold locks until the request context is torn down).
        try:
            yield from rows
        finally:
            rows.close()
            session.rollback()

    return Response(
        stream_with_context(stream()),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=calls.csv"},
    )
