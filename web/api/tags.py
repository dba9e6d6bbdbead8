"""Tags for contacts (used by broadcasts and automations)."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control.services import tags
from control.validators import COLOR_RE
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    Body,
    ListArgs,
    name_text,
    page_body,
    page_schema,
    patterned,
    required_text,
    sort_choice,
)
from web.db import db, write

bp = ApiBlueprint("tags", __name__, description="Tags for contacts.")


class Tag(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    color = fields.String()
    created_at = UtcDateTime()


class TagUpdate(Body):
    name = name_text(tags.MAX_NAME)
    color = patterned(
        COLOR_RE, "A colour like #1d4ed8.", allow_none=True, metadata={"description": "Default #6b7280."}
    )


class TagCreate(TagUpdate):
    name = required_text(tags.MAX_NAME)


class TagListArgs(ListArgs):
    sort = sort_choice(tags.SORTS, "name")


TagPage = page_schema(Tag, "TagPage")


@bp.route("", methods=["GET"])
@bp.arguments(TagListArgs, location="query")
@bp.response(200, TagPage)
def index(args: dict) -> dict:
    """List tags (search by name; sort: name, created)."""
    return page_body(tags.list_tags(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(TagCreate)
@bp.response(201, Tag)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        tag = tags.create_tag(s, me.tenant_id, data, me)
    return tag, {"Location": url_for(".show", tag_id=tag.id)}


@bp.route("/<id:tag_id>", methods=["GET"])
@bp.response(200, Tag)
def show(tag_id: int):  # type: ignore[no-untyped-def]
    return tags.get_tag(db(), api_user().tenant_id, tag_id)


@bp.route("/<id:tag_id>", methods=["PATCH"])
@bp.arguments(TagUpdate)
@bp.response(200, Tag)
def update(data: dict, tag_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return tags.update_tag(s, me.tenant_id, tag_id, data, me)


@bp.route("/<id:tag_id>", methods=["DELETE"])
@bp.response(204)
def delete(tag_id: int) -> Response:
    me = api_user()
    with write() as s:
        tags.delete_tag(s, me.tenant_id, tag_id, me)
    return Response(status=204)
