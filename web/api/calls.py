"""Call history: one record per call, derived from the PBX's events at hang-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import marshmallow as ma
from marshmallow import fields

from control.services import calls
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.schemas import Id, PageArgs, page_body, page_schema, query_choice
from web.db import db

bp = ApiBlueprint("calls", __name__, description="Call history: one record per call, newest first.")

DATE_HELP = "YYYY-MM-DD (a whole day) or an ISO 8601 date and time, in UTC."


class Moment(fields.Field):
    """A day or an instant; `end_of_day` makes a bare date cover that whole day (an inclusive 'to')."""

    def __init__(self, description: str, *, end_of_day: bool = False) -> None:
        super().__init__(load_default=None, metadata={"type": "string", "description": description})
        self.end_of_day = end_of_day

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise ma.ValidationError("Not a date.")
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                moment = datetime.combine(day, time())
                return moment + timedelta(days=1) if self.end_of_day else moment
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ma.ValidationError(DATE_HELP) from None
        if parsed.tzinfo is not None:  # records keep naive UTC
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed


class Call(ma.Schema):
    id = fields.Integer()
    direction = fields.String(metadata={"enum": list(calls.DIRECTIONS)})
    missed = fields.Boolean(metadata={"description": "Nobody answered."})
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
    started_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    duration = fields.Integer(metadata={"description": "Seconds from start to hang-up."})
    billsec = fields.Integer(metadata={"description": "Seconds from answer to hang-up."})
    hangup_cause = fields.String()


class CallListArgs(PageArgs):
    user_id = Id(load_default=None, metadata={"description": "Calls the user made, received or answered."})
    line_id = Id(load_default=None)
    direction = query_choice(calls.DIRECTIONS)
    missed = fields.Boolean(load_default=None)
    since = Moment("Started at or after: " + DATE_HELP)
    until = Moment("Started before; a bare date includes that whole day. " + DATE_HELP, end_of_day=True)
    sort = fields.String(
        load_default=None, metadata={"description": "started, duration or direction; prefix '-' to reverse."}
    )


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
