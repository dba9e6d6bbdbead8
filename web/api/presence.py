"""Presence: each user's state, computed from the PBX line state and the user's own choice."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from control.services import presence
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.schemas import PageArgs, page_body, page_schema
from web.db import db

bp = ApiBlueprint(
    "presence", __name__, description="Who is offline, available, in a call or unavailable, right now."
)


class Presence(ma.Schema):
    user_id = fields.Integer()
    name = fields.String()
    extension = fields.String(allow_none=True)
    state = fields.String(
        metadata={
            "enum": list(presence.STATES),
            "description": "offline: no phone registered; in_call: on a call; "
            "unavailable: registered but DND, paused or suspended; available otherwise.",
        }
    )
    chosen_state = fields.String(
        metadata={"enum": list(presence.CHOSEN_STATES), "description": "What the user (or an admin) set."}
    )
    line_state = fields.String(
        metadata={"enum": list(presence.LINE_STATES), "description": "What the PBX says about the phone."}
    )


PresencePage = page_schema(Presence, "PresencePage")


@bp.route("", methods=["GET"])
@bp.arguments(PageArgs, location="query")
@bp.response(200, PresencePage)
def index(args: dict) -> dict:
    """Every user's presence, by name."""
    return page_body(presence.presence_page(db(), api_user().tenant_id, **args))


@bp.route("/<id:user_id>", methods=["GET"])
@bp.response(200, Presence)
def show(user_id: int):  # type: ignore[no-untyped-def]
    return presence.get_presence(db(), api_user().tenant_id, user_id)
