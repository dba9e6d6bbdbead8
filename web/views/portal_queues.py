"""The agent portal's queues: a switch per queue the user is a member of (on: that queue offers
them its calls; off: none from it, other queues unaffected), live on the PBX at once."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from control.services import my_account
from web.auth import actor
from web.db import db, write
from web.forms import checkbox

bp = Blueprint("portal_queues", __name__, url_prefix="/portal/queues")


@bp.get("/")
def index() -> str:
    return render_template("portal/queues.html", queues=my_account.queue_memberships(db(), actor()))


def said(name: str, active: bool) -> str:
    if active:
        return _("You receive the calls of %(queue)s.", queue=name)
    return _("You receive no calls from %(queue)s.", queue=name)


@bp.post("/<int:queue_id>")
def toggle(queue_id: int) -> Response | str:
    active = checkbox(request.form, "active")
    with write() as s:
        name = my_account.set_queue_active(s, actor(), queue_id, active).queue.name
    if request.headers.get("HX-Request"):
        return said(name, active)
    flash(said(name, active), "success")
    return redirect(url_for("portal_queues.index"))
