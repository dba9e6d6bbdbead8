"""Preview config: what Switchboard renders for the tenant, per PBX kind, file by file."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from control.render import PBX_KINDS, RenderError, render_tenant
from web.auth import actor
from web.db import db

ADMIN_AREA = True
bp = Blueprint("render", __name__, url_prefix="/render")


@bp.get("/")
def index() -> Response:
    return redirect(url_for("render.preview", kind="asterisk"))


@bp.get("/<kind>")
def preview(kind: str) -> str | tuple[str, int]:
    if kind not in PBX_KINDS:
        abort(404)
    try:
        rendered = render_tenant(db(), actor().tenant_id, kind)
    except RenderError as exc:
        return render_template("render/preview.html", kind=kind, kinds=PBX_KINDS, error=str(exc)), 409
    path = request.args.get("file") or next(iter(rendered.files), None)
    if path is not None and path not in rendered.files:
        abort(404)
    return render_template(
        "render/preview.html",
        kind=kind,
        kinds=PBX_KINDS,
        rendered=rendered,
        path=path,
        content=rendered.files[path].decode("utf-8", "replace") if path else "",
        error=None,
    )
