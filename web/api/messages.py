"""Texts (SIP MESSAGE) from a line's number."""

from __future__ import annotations

from marshmallow import fields, validate

from control.phone import MAX_NUMBER_TEXT
from control.services import texts
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.commands import Command, answer_too_many
from web.api.schemas import REQUIRED, Body, Id, name_text
from web.db import write

bp = ApiBlueprint("messages", __name__, description="Texts sent from a line's number.", admin=False)
answer_too_many(bp)


class MessageRequest(Body):
    line_id = Id(
        required=True, error_messages=REQUIRED, metadata={"description": "The line it is sent from."}
    )
    to = name_text(
        MAX_NUMBER_TEXT,
        required=True,
        error_messages=REQUIRED,
        metadata={"description": "A phone number, or a user's extension."},
    )
    body = fields.String(
        required=True,
        error_messages=REQUIRED,
        validate=validate.Length(1, texts.MAX_BODY),
        metadata={"description": f"UTF-8 text, 1 to {texts.MAX_BODY} characters, sent as it is."},
    )


@bp.route("", methods=["POST"])
@bp.arguments(MessageRequest)
@bp.response(202, Command)
@bp.alt_response(429, description="More than 10 calls and texts a minute.")
def send(data: dict):  # type: ignore[no-untyped-def]
    """Send a text; it shows on the line's activity. Follow the command at GET /api/v1/commands/{id}."""
    me = api_user()
    with write() as s:
        return texts.send(s, me, data)
