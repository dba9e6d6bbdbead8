from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from web.db import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def health() -> tuple[dict[str, str], int]:
    db().execute(text("SELECT 1"))
    return {"status": "ok"}, 200
