"""Lines: numbers routed to one destination; pause, activate, duplicate."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control.models import DESTINATION_KINDS
from control.models.lines import LINE_STATUSES
from control.services import destinations, lines
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    REQUIRED,
    Body,
    Id,
    IdOrText,
    ListArgs,
    choice,
    ids,
    name_text,
    page_body,
    page_schema,
    query_choice,
    required_text,
    sort_choice,
)
from web.db import db, write

bp = ApiBlueprint("lines", __name__, description="Lines: a set of numbers routed to one destination.")

TARGET = "The destination: the id of a user, ring group or queue; an extension; or an external number."


class Line(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    status = fields.String(metadata={"enum": list(LINE_STATUSES)})
    destination_kind = fields.String(allow_none=True, metadata={"enum": list(DESTINATION_KINDS)})
    destination_target = fields.Function(
        lambda line: destinations.target_of(line, "destination"),
        metadata={"type": "string", "description": TARGET},
    )
    number_ids = ids("numbers")
    default_caller_id_id = fields.Integer(allow_none=True)
    created_at = UtcDateTime()


class LineUpdate(Body):
    name = name_text()
    status = choice(LINE_STATUSES)
    destination_kind = choice(DESTINATION_KINDS, allow_none=False)
    destination_target = IdOrText(allow_none=True, metadata={"description": TARGET})
    number_ids = fields.List(Id())
    default_caller_id_id = Id(allow_none=True, metadata={"description": "One of the line's numbers."})


class LineCreate(LineUpdate):
    name = required_text()
    destination_kind = choice(DESTINATION_KINDS, required=True, allow_none=False, error_messages=REQUIRED)


class LineListArgs(ListArgs):
    sort = sort_choice(lines.SORTS, "name")
    status = query_choice(LINE_STATUSES)


LinePage = page_schema(Line, "LinePage")


@bp.route("", methods=["GET"])
@bp.arguments(LineListArgs, location="query")
@bp.response(200, LinePage)
def index(args: dict) -> dict:
    """List lines (search by name; sort: name, status, created)."""
    return page_body(lines.list_lines(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(LineCreate)
@bp.response(201, Line)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        line = lines.create_line(s, me.tenant_id, data, me)
    return line, {"Location": url_for(".show", line_id=line.id)}


@bp.route("/<id:line_id>", methods=["GET"])
@bp.response(200, Line)
def show(line_id: int):  # type: ignore[no-untyped-def]
    return lines.get_line(db(), api_user().tenant_id, line_id)


@bp.route("/<id:line_id>", methods=["PATCH"])
@bp.arguments(LineUpdate)
@bp.response(200, Line)
def update(data: dict, line_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return lines.update_line(s, me.tenant_id, line_id, data, me)


@bp.route("/<id:line_id>", methods=["DELETE"])
@bp.response(204)
def delete(line_id: int) -> Response:
    """Delete the line; its numbers stay, unassigned."""
    me = api_user()
    with write() as s:
        lines.delete_line(s, me.tenant_id, line_id, me)
    return Response(status=204)


def _status(line_id: int, status: str):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return lines.set_status(s, me.tenant_id, line_id, status, me)


@bp.route("/<id:line_id>/pause", methods=["POST"])
@bp.response(200, Line)
def pause(line_id: int):  # type: ignore[no-untyped-def]
    """Pause the line: inbound calls are rejected."""
    return _status(line_id, "paused")


@bp.route("/<id:line_id>/activate", methods=["POST"])
@bp.response(200, Line)
def activate(line_id: int):  # type: ignore[no-untyped-def]
    return _status(line_id, "active")


@bp.route("/<id:line_id>/duplicate", methods=["POST"])
@bp.response(201, Line)
def duplicate(line_id: int):  # type: ignore[no-untyped-def]
    """Copy the line's settings (never its numbers)."""
    me = api_user()
    with write() as s:
        copy = lines.duplicate_line(s, me.tenant_id, line_id, me)
    return copy, {"Location": url_for(".show", line_id=copy.id)}
