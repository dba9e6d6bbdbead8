"""The dashboard's live-call buttons: Hang up and Transfer one call, through the call control
(control/services/live_calls.py records the command; the node's listener sends it).

From htmx the answer is the call's row again, with the outcome (or the error next to the field);
without JavaScript, a flash message and back to the dashboard."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from control.errors import Conflict, Forbidden, Invalid, NotFound
from control.services import dashboard, live_calls
from web.auth import actor
from web.db import db, write

bp = Blueprint("live_calls", __name__, url_prefix="/live-calls")
ADMIN_AREA = True

CALL_ID = "<string(maxlength=80):call_id>"


def _row(call_id: str, errors: dict[str, list[str]], done: str = "", target: str = "") -> str | Response:
    if not request.headers.get("HX-Request"):
        if errors:
            flash(" ".join(m for messages in errors.values() for m in messages), "error")
        elif done:
            flash(done, "success")
        return redirect(url_for("dashboard.index"))
    call = next((c for c in dashboard.live_calls(db(), actor()) if call_id in c.leg_ids), None)
    return render_template(
        "dashboard/_live_call.html", call=call, errors=errors, done=done, target=target, call_id=call_id
    )


@bp.post(f"/{CALL_ID}/hangup")
def hangup(call_id: str) -> str | Response:
    try:
        with write() as s:
            command = live_calls.hangup(s, actor(), call_id)
    except NotFound:
        return _row(call_id, {"call": ["This call has already ended."]})
    except (Conflict, Forbidden) as exc:
        return _row(call_id, {"call": [str(exc)]})
    return _row(call_id, {}, f"Hanging up (command {command.id}).")


@bp.post(f"/{CALL_ID}/transfer")
def transfer(call_id: str) -> str | Response:
    target = request.form.get("target", "")
    try:
        with write() as s:
            command = live_calls.transfer(s, actor(), call_id, {"target": target})
    except Invalid as exc:
        return _row(
            call_id, {"target": [m for messages in exc.errors.values() for m in messages]}, target=target
        )
    except NotFound:
        return _row(call_id, {"call": ["This call has already ended."]}, target=target)
    except (Conflict, Forbidden) as exc:
        return _row(call_id, {"target": [str(exc)]}, target=target)
    return _row(call_id, {}, f"Transferring to {command.target} (command {command.id}).")
