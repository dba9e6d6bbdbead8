"""Commands to the live PBX: what was asked, where, and what the PBX answered."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from control.models.commands import COMMAND_KINDS, COMMAND_STATES
from control.services import commands
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.errors import error_response
from web.db import db

bp = ApiBlueprint(
    "commands",
    __name__,
    description="Commands to the live PBX (calls, texts, Do Not Disturb, queue presence, hang-up, transfer).",
    admin=False,
)


class Command(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(COMMAND_KINDS)})
    state = fields.String(
        metadata={
            "enum": list(COMMAND_STATES),
            "description": "queued: not picked up yet; sending: sent, no answer yet; ok / failed: "
            "the PBX's answer; unknown: the connection was lost after sending (never re-sent).",
        }
    )
    node = fields.String(metadata={"description": "The PBX node the command went to."})
    user_id = fields.Integer(allow_none=True, metadata={"description": "The user it acts for."})
    actor_id = fields.Integer(allow_none=True, metadata={"description": "Who asked."})
    target = fields.String()
    answer = fields.String(metadata={"description": "What the PBX answered, or why it failed."})
    created_at = UtcDateTime()
    sent_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


@bp.route("/<id:command_id>", methods=["GET"])
@bp.response(200, Command)
def show(command_id: int):  # type: ignore[no-untyped-def]
    """A command and its state (agents see their own)."""
    return commands.get_command(db(), api_user(), command_id)


def answer_too_many(blueprint: ApiBlueprint) -> None:
    """429 with Retry-After when a person sends too many calls and texts (a stuck button)."""

    @blueprint.errorhandler(commands.RateLimited)
    def too_many(exc: commands.RateLimited):  # type: ignore[no-untyped-def]
        return error_response(429, str(exc), headers={"Retry-After": str(exc.retry_after)})
