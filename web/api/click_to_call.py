"""POST /api/v1/calls: click-to-call and callback (the call history is GET /api/v1/calls)."""

from __future__ import annotations

from control.phone import MAX_NUMBER_TEXT
from control.services import click_to_call
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.commands import Command, answer_too_many
from web.api.schemas import REQUIRED, Body, Id, name_text, text
from web.db import write

bp = ApiBlueprint(
    "calls",
    __name__,
    description="Click-to-call: ring a user's phone, then dial.",
    admin=False,
    part="originate",
)
answer_too_many(bp)


class CallRequest(Body):
    user_id = Id(
        load_default=None,
        metadata={"description": "Whose phone rings first (default: yours; admins: anyone of the tenant)."},
    )
    target = name_text(
        MAX_NUMBER_TEXT,
        required=True,
        error_messages=REQUIRED,
        metadata={"description": "An extension (user, ring group, queue) or a phone number."},
    )
    caller_id = text(
        MAX_NUMBER_TEXT,
        load_default=None,
        metadata={
            "description": "A number of the tenant to present; never a do-not-use or released number. "
            "Default: the line's default caller ID."
        },
    )


@bp.route("", methods=["POST"])
@bp.arguments(CallRequest)
@bp.response(202, Command)
@bp.alt_response(409, description="The user has no registered phone; nothing was sent.")
@bp.alt_response(429, description="More than 10 calls and texts a minute.")
def originate(data: dict):  # type: ignore[no-untyped-def]
    """Ring the user's phone; when they answer, dial the target. Follow the command at
    GET /api/v1/commands/{id}."""
    me = api_user()
    with write() as s:
        return click_to_call.originate(s, me, data)
