"""Phone numbers (DIDs): add, assign, transfer to another line, release."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control.models.numbers import NUMBER_STATUSES, NUMBER_TYPES
from control.phone import MAX_NUMBER_TEXT
from control.services import numbers
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import DateTimeInput, UtcDateTime
from web.api.schemas import (
    Body,
    Bool,
    Id,
    ListArgs,
    choice,
    page_body,
    page_schema,
    query_choice,
    required_text,
    sort_choice,
)
from web.db import db, write

bp = ApiBlueprint("numbers", __name__, description="Phone numbers (DIDs) in E.164.")


class Number(ma.Schema):
    id = fields.Integer()
    e164 = fields.String()
    country = fields.String()
    number_type = fields.String(metadata={"enum": list(NUMBER_TYPES)})
    status = fields.String(metadata={"enum": list(NUMBER_STATUSES)})
    cancel_at = UtcDateTime(allow_none=True)
    do_not_use = Bool()
    team_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    line_id = fields.Integer(allow_none=True)
    created_at = UtcDateTime()


class NumberUpdate(Body):
    status = choice(NUMBER_STATUSES)
    cancel_at = DateTimeInput("Needed with to_be_cancelled.", allow_none=True)
    do_not_use = Bool(metadata={"description": "Never present it as caller ID."})
    team_id = Id(allow_none=True)
    user_id = Id(allow_none=True)
    line_id = Id(allow_none=True)


class NumberCreate(NumberUpdate):
    number = required_text(
        MAX_NUMBER_TEXT, metadata={"description": "E.164 or national format of the tenant's country."}
    )


class NumberListArgs(ListArgs):
    sort = sort_choice(numbers.SORTS, "number")
    status = query_choice(NUMBER_STATUSES)
    number_type = query_choice(NUMBER_TYPES)
    country = fields.String(load_default="", metadata={"description": "ISO country code, e.g. US."})
    assigned = query_choice(("yes", "no"))


class Transfer(Body):
    line_id = Id(required=True, error_messages={"required": "This field is required."})


NumberPage = page_schema(Number, "NumberPage")


@bp.route("", methods=["GET"])
@bp.arguments(NumberListArgs, location="query")
@bp.response(200, NumberPage)
def index(args: dict) -> dict:
    """List numbers (search by digits; sort: number, country, status, created)."""
    return page_body(numbers.list_numbers(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(NumberCreate)
@bp.response(201, Number)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        number = numbers.create_number(s, me.tenant_id, data, me)
    return number, {"Location": url_for(".show", number_id=number.id)}


@bp.route("/<id:number_id>", methods=["GET"])
@bp.response(200, Number)
def show(number_id: int):  # type: ignore[no-untyped-def]
    return numbers.get_number(db(), api_user().tenant_id, number_id)


@bp.route("/<id:number_id>", methods=["PATCH"])
@bp.arguments(NumberUpdate)
@bp.response(200, Number)
def update(data: dict, number_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return numbers.update_number(s, me.tenant_id, number_id, data, me)


@bp.route("/<id:number_id>", methods=["DELETE"])
@bp.response(204)
def delete(number_id: int) -> Response:
    me = api_user()
    with write() as s:
        numbers.delete_number(s, me.tenant_id, number_id, me)
    return Response(status=204)


@bp.route("/<id:number_id>/transfer", methods=["POST"])
@bp.arguments(Transfer)
@bp.response(200, Number)
def transfer(data: dict, number_id: int):  # type: ignore[no-untyped-def]
    """Move the number to another line."""
    me = api_user()
    with write() as s:
        return numbers.transfer_number(s, me.tenant_id, number_id, data["line_id"], me)


@bp.route("/<id:number_id>/release", methods=["POST"])
@bp.response(200, Number)
def release(number_id: int):  # type: ignore[no-untyped-def]
    """Release the number for good: it stops routing and leaves every assignment."""
    me = api_user()
    with write() as s:
        return numbers.release_number(s, me.tenant_id, number_id, me)
