"""Call and text buttons (contacts, line activity: Callback, Reply): the logged-in person's own
phone rings first; texts go out from a line's number. Each asks the live PBX through a command."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from control.errors import Conflict, Forbidden, Invalid, NotFound
from control.services import click_to_call, lines, texts
from web.auth import actor
from web.db import db, write

bp = Blueprint("commands", __name__, url_prefix="/commands")


def back() -> Response:
    target = request.form.get("next") or request.referrer or url_for("dashboard.index")
    parts = urlsplit(target)
    path = parts.path
    # only back to a page of this site (never //host or /\\host, which browsers take as a host)
    if (
        (parts.netloc and parts.netloc != request.host)
        or not path.startswith("/")
        or path[1:2] in ("/", "\\")
    ):
        return redirect("/")
    return redirect(path + (f"?{parts.query}" if parts.query else ""))


def _problem(exc: Exception) -> str:
    if isinstance(exc, Invalid):
        return " ".join(message for messages in exc.errors.values() for message in messages)
    if isinstance(exc, Conflict) and exc.details:
        return f"{exc} ({'; '.join(exc.details)})"
    return str(exc)


@bp.post("/call")
def call() -> Response:
    """Click-to-call / Callback: ring my phone, then dial `target`."""
    me = actor()
    target = request.form.get("target", "")
    try:
        with write() as s:
            command = click_to_call.originate(
                s, me, {"target": target, "caller_id": request.form.get("caller_id")}
            )
    except (Invalid, Conflict, Forbidden, NotFound) as exc:
        flash(f"Could not call {target}: {_problem(exc)}", "error")
    else:
        flash(f"Calling {command.target}: your phone rings first (command {command.id}).", "success")
    return back()


@bp.route("/text", methods=["GET", "POST"])
def text() -> str | Response:
    """Reply / Text: a text from one of the tenant's lines."""
    me = actor()
    data = {
        "to": request.values.get("to", ""),
        "line_id": request.values.get("line_id", type=int),
        "body": request.form.get("body", ""),
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            with write() as s:
                command = texts.send(s, me, data)
        except Invalid as exc:
            errors = exc.errors
        except (Conflict, Forbidden, NotFound) as exc:
            errors = {"_": [_problem(exc)]}
        else:
            flash(f"Text to {command.target} sent from the line (command {command.id}).", "success")
            return back()
    line_options = [(line.id, line.name) for line in lines.all_lines(db(), me.tenant_id)]
    return render_template(
        "commands/text.html", data=data, errors=errors, line_options=line_options, max_body=texts.MAX_BODY
    )
