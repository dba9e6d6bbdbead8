"""The portal's status, top right of every portal page: Online or Do Not Disturb, live on the PBX
at once, beside the user's presence as others see it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from control.services import my_account
from web.auth import actor
from web.db import db, write
from web.views.commands import back

bp = Blueprint("portal_status", __name__, url_prefix="/portal/status")


def my_status() -> dict[str, Any]:
    return my_account.status(db(), actor())


@bp.app_context_processor
def status_context() -> dict[str, Any]:
    return {"my_status": my_status}


@bp.post("/")
def change() -> Response | str:
    dnd_on = request.form.get("dnd") == "on"
    with write() as s:
        my_account.set_status(s, actor(), dnd_on)
    if request.headers.get("HX-Request"):
        return render_template("portal/_status.html")
    flash(
        _("Do Not Disturb: no calls reach you.") if dnd_on else _("Online: ready to take calls."), "success"
    )
    return back()
