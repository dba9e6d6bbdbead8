"""Broadcasts: a voice or text message from a line to contacts chosen by tag or by name."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control.models.broadcasts import BROADCAST_KINDS, BROADCAST_STATUSES, IF_MISSED, RECIPIENT_STATUSES
from control.services import broadcast_sending, broadcasts
from control.validators import BROADCAST_RETRIES, BROADCAST_RETRY_DELAY, BROADCAST_RING
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
    whole_number,
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
    if_missed = fields.String(metadata={"enum": list(IF_MISSED)})
    status = fields.String(metadata={"enum": list(BROADCAST_STATUSES)})
    tag_ids = ids("tags")
    contact_ids = ids("contacts")
    retry_count = fields.Integer()
    retry_delay = fields.Integer()
    ring_seconds = fields.Integer()
    has_recording = fields.Function(lambda b: bool(b.recording), metadata={"type": "boolean"})
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class Progress(ma.Schema):
    total = fields.Integer()
    sent = fields.Integer(metadata={"description": "Recipients handed to the PBX at least once."})
    answered = fields.Integer()
    delivered = fields.Integer()
    busy = fields.Integer()
    no_answer = fields.Integer()
    failed = fields.Integer()
    skipped = fields.Integer(metadata={"description": "Opted out (do not call)."})
    invalid = fields.Integer(metadata={"description": "No valid number."})
    cancelled = fields.Integer()
    remaining = fields.Integer()


class Recipient(ma.Schema):
    id = fields.Integer()
    contact_id = fields.Integer(allow_none=True)
    name = fields.String()
    number = fields.String()
    status = fields.String(metadata={"enum": list(RECIPIENT_STATUSES)})
    attempts = fields.Integer()
    last_attempt_at = UtcDateTime(allow_none=True)
    next_attempt_at = UtcDateTime(allow_none=True)
    detail = fields.String()


class Results(ma.Schema):
    progress = fields.Nested(Progress)
    recipients = fields.List(fields.Nested(Recipient))


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
    if_missed = choice(
        IF_MISSED,
        metadata={
            "description": "When the scheduled start passed while Switchboard was not running: "
            "start when it is back (start, the default), or mark the broadcast missed (missed)."
        },
    )
    tag_ids = fields.List(Id())
    contact_ids = fields.List(Id())
    retry_count = whole_number(BROADCAST_RETRIES, metadata={"description": "Tries after busy or no answer."})
    retry_delay = whole_number(BROADCAST_RETRY_DELAY, metadata={"description": "Seconds between tries."})
    ring_seconds = whole_number(
        BROADCAST_RING, metadata={"description": "Seconds a recipient's phone rings."}
    )


class BroadcastCreate(BroadcastUpdate):
    name = required_text()
    message = message_text(required=True, error_messages=REQUIRED)


class ActionInput(Body):
    action = choice(
        broadcast_sending.ACTIONS,
        required=True,
        allow_none=False,
        error_messages=REQUIRED,
        metadata={
            "description": "schedule (draft, missed), unschedule (scheduled), start (draft, "
            "scheduled, missed), pause (running), resume (paused), cancel (scheduled, missed, "
            "running, paused).",
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


@bp.route("/<id:broadcast_id>/action", methods=["POST"])
@bp.arguments(ActionInput)
@bp.response(200, Broadcast)
@bp.alt_response(409, description="The tenant has no PBX node to send through.")
def act(data: dict, broadcast_id: int):  # type: ignore[no-untyped-def]
    """Schedule, start now, pause, resume or cancel a broadcast."""
    me = api_user()
    with write() as s:
        return broadcast_sending.act(s, me.tenant_id, broadcast_id, str(data["action"] or ""), me)


@bp.route("/<id:broadcast_id>/results", methods=["GET"])
@bp.response(200, Results)
def results(broadcast_id: int) -> dict:
    """The progress and each recipient's result (resolved when the broadcast started)."""
    me = api_user()
    rows = broadcast_sending.recipients(db(), me.tenant_id, broadcast_id)
    return {"progress": broadcast_sending.progress(db(), broadcast_id), "recipients": rows}
