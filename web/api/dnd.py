"""PUT /api/v1/users/{id}/dnd: Do Not Disturb, applied on the live PBX at once."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from control.services import dnd, presence
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.commands import Command
from web.api.schemas import REQUIRED, Body
from web.db import db, write

bp = ApiBlueprint("users", __name__, description="Do Not Disturb, live on the PBX.", admin=False, part="dnd")


class DndRequest(Body):
    dnd = fields.Boolean(
        required=True,
        truthy={True},
        falsy={False},
        error_messages={**REQUIRED, "invalid": "Not a boolean (true or false)."},
        metadata={
            "description": "true: calls skip the user (direct calls get the fallback); false: ring again."
        },
    )


class DndState(ma.Schema):
    user_id = fields.Integer()
    dnd = fields.Boolean()
    presence = fields.String(metadata={"enum": list(presence.STATES)})
    commands = fields.List(fields.Nested(Command), metadata={"description": "One per PBX node."})


@bp.route("/<id:user_id>/dnd", methods=["PUT"])
@bp.arguments(DndRequest)
@bp.response(200, DndState)
def set_dnd(data: dict, user_id: int) -> dict:
    """Turn Do Not Disturb on or off (agents: their own; admins: anyone of the tenant)."""
    me = api_user()
    with write() as s:
        user, sent = dnd.set_dnd(s, me, user_id, data["dnd"])
    return {
        "user_id": user.id,
        "dnd": user.dnd,
        "presence": presence.get_presence(db(), me.tenant_id, user.id).state,
        "commands": sent,
    }
