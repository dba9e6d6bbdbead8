"""The portal's webphone: the logged-in user's own SIP account for the browser's SIP stack.

JSON over the user's own session only (an admin using "Login as" gets 403: the webphone is the
person's), never cached, never logged.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, abort, jsonify
from werkzeug.wrappers import Response

from control.services import webphone
from web.auth import actor, impersonator
from web.db import db

bp = Blueprint("portal_webphone", __name__, url_prefix="/portal/webphone")


@bp.get("/account")
def account() -> Response:
    if impersonator() is not None:
        abort(403)
    response = jsonify(asdict(webphone.account(db(), actor())))
    response.headers["Cache-Control"] = "no-store"
    return response
