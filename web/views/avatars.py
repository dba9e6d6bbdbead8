"""Avatars served from the app: to logged-in users of the avatar's tenant only, with the content
type of the re-encoded image, never sniffed or run as anything else."""

from __future__ import annotations

from flask import Blueprint, Response

from control.services import avatars
from web.auth import actor
from web.db import db

bp = Blueprint("avatars", __name__, url_prefix=avatars.PATH.rstrip("/"))


@bp.get("/<int:avatar_id>")
def show(avatar_id: int) -> Response:
    avatar = avatars.get(db(), actor(), avatar_id)
    response = Response(avatar.data, content_type=avatar.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    # Each upload gets a new address, so the browser keeps this one (for this user only).
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response
