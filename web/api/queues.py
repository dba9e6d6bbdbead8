"""Call-center queues and each member's presence in them."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control.models import DESTINATION_KINDS
from control.models.queues import QUEUE_STRATEGIES
from control.services import destinations, queues
from control.validators import QUEUE_MAX_WAIT, QUEUE_RING_TIMEOUT, QUEUE_WRAP_UP
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    REQUIRED,
    Body,
    Bool,
    Id,
    IdOrText,
    ListArgs,
    choice,
    extension_text,
    name_text,
    page_body,
    page_schema,
    query_choice,
    required_text,
    sort_choice,
    whole_number,
)
from web.db import db, write

bp = ApiBlueprint("queues", __name__, description="Call-center queues: callers wait, active members answer.")

FALLBACK_TARGET = (
    "Where callers go after max_wait: an id (user, ring group, queue), an extension or a number."
)


class QueueMember(ma.Schema):
    user_id = fields.Integer()
    active = Bool(metadata={"description": "Active members receive this queue's calls."})


class Queue(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    extension = fields.String()
    strategy = fields.String(metadata={"enum": list(QUEUE_STRATEGIES)})
    wrap_up_time = fields.Integer()
    max_wait = fields.Integer()
    ring_timeout = fields.Integer()
    fallback_kind = fields.String(allow_none=True, metadata={"enum": list(DESTINATION_KINDS)})
    fallback_target = fields.Function(
        lambda queue: destinations.target_of(queue, "fallback"),
        metadata={"type": "string", "description": FALLBACK_TARGET},
    )
    members = fields.List(fields.Nested(QueueMember))
    created_at = UtcDateTime()


class QueueMemberInput(Body):
    user_id = Id(required=True, error_messages=REQUIRED)
    active = Bool()


class QueueUpdate(Body):
    name = name_text()
    extension = extension_text()
    strategy = choice(QUEUE_STRATEGIES)
    wrap_up_time = whole_number(QUEUE_WRAP_UP, allow_none=True, metadata={"description": "Seconds."})
    max_wait = whole_number(QUEUE_MAX_WAIT, allow_none=True, metadata={"description": "Seconds."})
    ring_timeout = whole_number(QUEUE_RING_TIMEOUT, allow_none=True, metadata={"description": "Seconds."})
    fallback_kind = choice(DESTINATION_KINDS)
    fallback_target = IdOrText(allow_none=True, metadata={"description": FALLBACK_TARGET})
    members = fields.List(fields.Nested(QueueMemberInput), metadata={"description": "Replaces every member."})


class QueueCreate(QueueUpdate):
    name = required_text()
    extension = extension_text(required=True, error_messages=REQUIRED)


class Membership(Body):
    active = Bool(required=True, error_messages=REQUIRED)


class QueueListArgs(ListArgs):
    sort = sort_choice(queues.SORTS, "extension")
    strategy = query_choice(QUEUE_STRATEGIES)


QueuePage = page_schema(Queue, "QueuePage")


@bp.route("", methods=["GET"])
@bp.arguments(QueueListArgs, location="query")
@bp.response(200, QueuePage)
def index(args: dict) -> dict:
    """List queues (search by name or extension; sort: name, extension, strategy)."""
    return page_body(queues.list_queues(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(QueueCreate)
@bp.response(201, Queue)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        queue = queues.create_queue(s, me.tenant_id, data, me)
    return queue, {"Location": url_for(".show", queue_id=queue.id)}


@bp.route("/<id:queue_id>", methods=["GET"])
@bp.response(200, Queue)
def show(queue_id: int):  # type: ignore[no-untyped-def]
    return queues.get_queue(db(), api_user().tenant_id, queue_id)


@bp.route("/<id:queue_id>", methods=["PATCH"])
@bp.arguments(QueueUpdate)
@bp.response(200, Queue)
def update(data: dict, queue_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return queues.update_queue(s, me.tenant_id, queue_id, data, me)


@bp.route("/<id:queue_id>", methods=["DELETE"])
@bp.response(204)
def delete(queue_id: int) -> Response:
    """Delete the queue; 409 with the lines that still route to it."""
    me = api_user()
    with write() as s:
        queues.delete_queue(s, me.tenant_id, queue_id, me)
    return Response(status=204)


@bp.route("/<id:queue_id>/members/<id:user_id>", methods=["PUT"])
@bp.arguments(Membership)
@bp.response(200, Queue)
def set_membership(data: dict, queue_id: int, user_id: int):  # type: ignore[no-untyped-def]
    """Make a member active (receives the queue's calls) or inactive in this queue."""
    me = api_user()
    with write() as s:
        queues.set_membership_active(s, me.tenant_id, queue_id, user_id, data["active"], me)
        return queues.get_queue(s, me.tenant_id, queue_id)
