"""Call history: one record per call, derived from the PBX's events at hang-up."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from control.services import calls
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import Moment, UtcDateTime
from web.api.schemas import (
    Bool,
    PageArgs,
    QueryBool,
    QueryId,
    page_body,
    page_schema,
    query_choice,
    sort_choice,
)
from web.db import db

bp = ApiBlueprint("calls", __name__, description="Call history: one record per call, newest first.")


class Call(ma.Schema):
    id = fields.Integer()
    direction = fields.String(metadata={"enum": list(calls.DIRECTIONS)})
    missed = Bool(metadata={"description": "Nobody answered."})
    line_id = fields.Integer(allow_none=True)
    number_used = fields.String(allow_none=True, metadata={"description": "The line's number the call used."})
    caller_number = fields.String()
    caller_name = fields.String()
    callee_number = fields.String()
    caller_user_id = fields.Integer(allow_none=True)
    callee_user_id = fields.Integer(allow_none=True)
    caller_contact_id = fields.Integer(allow_none=True)
    callee_contact_id = fields.Integer(allow_none=True)
    answered_by_user_id = fields.Integer(allow_none=True)
    ring_group_id = fields.Integer(allow_none=True)
    queue_id = fields.Integer(allow_none=True)
    started_at = UtcDateTime()
    answered_at = UtcDateTime(allow_none=True)
    ended_at = UtcDateTime(allow_none=True)
    duration = fields.Integer(metadata={"description": "Seconds from start to hang-up."})
    billsec = fields.Integer(metadata={"description": "Seconds from answer to hang-up."})
    hangup_cause = fields.String()


class CallListArgs(PageArgs):
    user_id = QueryId(
        load_default=None, metadata={"description": "Calls the user made, received or answered."}
    )
    line_id = QueryId(load_default=None)
    direction = query_choice(calls.DIRECTIONS)
    missed = QueryBool(load_default=None)
    since = Moment("Started at or after this.")
    until = Moment("Started before this; a bare date includes that whole day.", end_of_day=True)
    sort = sort_choice(calls.SORTS, "-started")


CallPage = page_schema(Call, "CallPage")


@bp.route("", methods=["GET"])
@bp.arguments(CallListArgs, location="query")
@bp.response(200, CallPage)
def index(args: dict) -> dict:
    """List call records, newest first (sort: started, duration, direction)."""
    return page_body(calls.list_calls(db(), api_user().tenant_id, **args))


@bp.route("/<id:call_id>", methods=["GET"])
@bp.response(200, Call)
def show(call_id: int):  # type: ignore[no-untyped-def]
    return calls.get_call(db(), api_user().tenant_id, call_id)
