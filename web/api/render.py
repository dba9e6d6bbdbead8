"""The rendered PBX configuration of the token user's tenant: file list, sizes and hashes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from control.render import RenderError, render_tenant
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.errors import error_response
from web.db import db

bp = ApiBlueprint("render", __name__, description="What Switchboard renders for FreeSWITCH and Asterisk.")

KINDS = ("freeswitch", "asterisk")


class RenderedFile(ma.Schema):
    path = fields.String()
    size = fields.Integer()
    sha256 = fields.String()


class Rendered(ma.Schema):
    kind = fields.String(metadata={"enum": list(KINDS)})
    content_hash = fields.String()
    files = fields.List(fields.Nested(RenderedFile))


@bp.route("/<any(freeswitch, asterisk):kind>", methods=["GET"])
@bp.response(200, Rendered)
def show(kind: str):  # type: ignore[no-untyped-def]
    try:
        rendered = render_tenant(db(), api_user().tenant_id, kind)
    except RenderError as exc:
        return error_response(409, f"The model cannot be rendered: {exc}")
    return {"kind": kind, "content_hash": rendered.content_hash, "files": rendered.manifest()}
