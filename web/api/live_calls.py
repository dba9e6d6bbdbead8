"""Calls up now, per node; hang up or blind-transfer one of their legs."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from control.services import live_calls
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.commands import Command
from web.api.schemas import REQUIRED, Body
from web.db import db, write

bp = ApiBlueprint(
    "live-calls",
    __name__,
    description="Calls up now on the PBX nodes (agents: their own); hang-up and blind transfer.",
    admin=False,
)

CALL_ID = "<string(maxlength=80):call_id>"


class LiveLeg(ma.Schema):
    id = fields.String(metadata={"description": "The leg's id on its node (use it to hang up or transfer)."})
    node = fields.String()
    call_key = fields.String(metadata={"description": "Legs of one call share it."})
    user_id = fields.Integer(allow_none=True)
    answered = fields.Boolean()
    started_at = fields.Float(metadata={"description": "Epoch seconds (UTC)."})


class LiveCalls(ma.Schema):
    legs = fields.List(fields.Nested(LiveLeg))


class TransferRequest(Body):
    target = fields.String(
        required=True,
        error_messages=REQUIRED,
        validate=validate.Length(1, 32),
        metadata={"description": "An extension or a phone number."},
    )


@bp.route("", methods=["GET"])
@bp.response(200, LiveCalls)
def index() -> dict:
    return {"legs": live_calls.list_live_calls(db(), api_user())}


@bp.route(f"/{CALL_ID}/hangup", methods=["POST"])
@bp.response(202, Command)
def hangup(call_id: str):  # type: ignore[no-untyped-def]
    """Hang up this leg (admins: any; agents: a leg of their own call)."""
    me = api_user()
    with write() as s:
        return live_calls.hangup(s, me, call_id)


@bp.route(f"/{CALL_ID}/transfer", methods=["POST"])
@bp.arguments(TransferRequest)
@bp.response(202, Command)
def transfer(data: dict, call_id: str):  # type: ignore[no-untyped-def]
    """Blind transfer: this leg continues at the target; its peer is released."""
    me = api_user()
    with write() as s:
        return live_calls.transfer(s, me, call_id, data)
