"""The agent portal's call history: the user's own calls, live as new ones end."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from control.services import call_history
from web.auth import actor
from web.db import db

bp = Blueprint("portal_history", __name__, url_prefix="/portal/history")


@bp.get("/")
def index() -> str:
    page = call_history.history(
        db(), actor(), q=request.args.get("q", ""), page=request.args.get("page", 1, type=int)
    )
    return render_template("portal/history.html", page=page)
