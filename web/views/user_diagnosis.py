"""User diagnosis: why a user does not get calls (linked from the user's page), and the "ring
this phone" test call."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from control.errors import Conflict, Forbidden
from control.services import user_diagnosis
from web.auth import actor
from web.db import db, write

ADMIN_AREA = True
bp = Blueprint("user_diagnosis", __name__, url_prefix="/users")


@bp.get("/<int:user_id>/diagnosis")
def show(user_id: int) -> str:
    me = actor()
    return render_template(
        "users/diagnosis.html", diagnosis=user_diagnosis.diagnose(db(), me.tenant_id, user_id)
    )


@bp.post("/<int:user_id>/diagnosis/ring")
def ring(user_id: int) -> Response:
    me = actor()
    try:
        with write() as s:
            command = user_diagnosis.ring_test(s, me, user_id)
    except (Conflict, Forbidden) as exc:
        details = f" ({'; '.join(exc.details)})" if isinstance(exc, Conflict) and exc.details else ""
        flash(f"The test call could not be placed: {exc}{details}", "error")
    else:
        flash(
            f'Ringing extension {command.target} as "Switchboard test call" (command {command.id}): '
            "answered, it echoes for a few seconds, then hangs up.",
            "success",
        )
    return redirect(url_for("user_diagnosis.show", user_id=user_id))
