"""Broadcasts: a voice or text message from a line to contacts chosen by tag or by name."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control.models.broadcasts import BROADCAST_KINDS, BROADCAST_STATUSES
from control.services import broadcasts
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import DateTimeInput, UtcDateTime
from web.api.schemas import (
    NOT_BLANK,
    REQUIRED,
    Body,
    Id,
    ListArgs,
    choice,
    ids,
    name_text,
    page_body,
    page_schema,
    patterned,
    query_choice,
    required_text,
    sort_choice,
)
from web.db import db, write

bp = ApiBlueprint("broadcasts", __name__, description="Voice or text broadcasts to contacts.")


class Broadcast(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(metadata={"enum": list(BROADCAST_KINDS)})
    message = fields.String()
    line_id = fields.Integer(allow_none=True)
    scheduled_at = UtcDateTime(allow_none=True)
    status = fields.String(metadata={"enum": list(BROADCAST_STATUSES)})
    tag_ids = ids("tags")
    contact_ids = ids("contacts")
    created_at = UtcDateTime()


def message_text(**kwargs: Any) -> fields.String:
    limits = broadcasts.MESSAGE_LIMITS
    return patterned(
        NOT_BLANK,
        "Write the message to send.",
        max(limits.values()),
        metadata={
            "description": f"At most {limits['text']} characters for text, {limits['voice']} for voice."
        },
        **kwargs,
    )


class BroadcastUpdate(Body):
    """The audience is every contact with one of `tag_ids` plus every one of `contact_ids`."""

    name = name_text()
    kind = choice(BROADCAST_KINDS)
    message = message_text()
    line_id = Id(allow_none=True)
    scheduled_at = DateTimeInput(allow_none=True)
    tag_ids = fields.List(Id())
    contact_ids = fields.List(Id())


class BroadcastCreate(BroadcastUpdate):
    name = required_text()
    message = message_text(required=True, error_messages=REQUIRED)


class StatusChange(Body):
    status = choice(
        BROADCAST_STATUSES,
        required=True,
        allow_none=False,
        error_messages=REQUIRED,
        metadata={
            "description": "draft→scheduled; scheduled→draft|paused|running; running→paused|done; "
            "paused→running|scheduled|done.",
        },
    )


class BroadcastListArgs(ListArgs):
    sort = sort_choice(broadcasts.SORTS, "-created")
    status = query_choice(BROADCAST_STATUSES)
    kind = query_choice(BROADCAST_KINDS)


BroadcastPage = page_schema(Broadcast, "BroadcastPage")


@bp.route("", methods=["GET"])
@bp.arguments(BroadcastListArgs, location="query")
@bp.response(200, BroadcastPage)
def index(args: dict) -> dict:
    """List broadcasts (search by name; sort: name, status, scheduled, created; newest first)."""
    return page_body(broadcasts.list_broadcasts(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(BroadcastCreate)
@bp.response(201, Broadcast)
def create(data: dict):  # type: ignore[no-untyped-def]
    """Create a draft broadcast."""
    me = api_user()
    with write() as s:
        broadcast = broadcasts.create_broadcast(s, me.tenant_id, data, me)
    return broadcast, {"Location": url_for(".show", broadcast_id=broadcast.id)}


@bp.route("/<id:broadcast_id>", methods=["GET"])
@bp.response(200, Broadcast)
def show(broadcast_id: int):  # type: ignore[no-untyped-def]
    return broadcasts.get_broadcast(db(), api_user().tenant_id, broadcast_id)


@bp.route("/<id:broadcast_id>", methods=["PATCH"])
@bp.arguments(BroadcastUpdate)
@bp.response(200, Broadcast)
def update(data: dict, broadcast_id: int):  # type: ignore[no-untyped-def]
    """Edit a broadcast that is not running or done."""
    me = api_user()
    with write() as s:
        return broadcasts.update_broadcast(s, me.tenant_id, broadcast_id, data, me)


@bp.route("/<id:broadcast_id>", methods=["DELETE"])
@bp.response(204)
def delete(broadcast_id: int) -> Response:
    me = api_user()
    with write() as s:
        broadcasts.delete_broadcast(s, me.tenant_id, broadcast_id, me)
    return Response(status=204)


@bp.route("/<id:broadcast_id>/status", methods=["POST"])
@bp.arguments(StatusChange)
@bp.response(200, Broadcast)
def set_status(data: dict, broadcast_id: int):  # type: ignore[no-untyped-def]
    """Schedule, pause, resume or finish a broadcast."""
    me = api_user()
    with write() as s:
        return broadcasts.set_status(s, me.tenant_id, broadcast_id, str(data["status"] or ""), me)
