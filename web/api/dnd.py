"""A person's own routing, live on the PBX at once: PUT /api/v1/users/{id}/dnd (Do Not Disturb)
and PUT /api/v1/users/{id}/queues/{queue_id} (presence in one queue; admins also have
PUT /api/v1/queues/{id}/members/{user_id}). Agents for themselves, admins for anyone."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from control.services import commands, dnd, presence, queues, users
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.commands import Command
from web.api.schemas import REQUIRED, Body, Bool
from web.db import db, write

bp = ApiBlueprint(
    "users",
    __name__,
    description="Do Not Disturb and queue presence, live on the PBX.",
    admin=False,
    part="dnd",
)


class DndRequest(Body):
    dnd = Bool(
        required=True,
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


class QueuePresenceRequest(Body):
    active = Bool(
        required=True,
        error_messages={**REQUIRED, "invalid": "Not a boolean (true or false)."},
        metadata={"description": "true: this queue offers the person its calls; false: it does not."},
    )


class QueuePresence(ma.Schema):
    user_id = fields.Integer()
    queue_id = fields.Integer()
    active = fields.Boolean()


@bp.route("/<id:user_id>/queues/<id:queue_id>", methods=["PUT"])
@bp.arguments(QueuePresenceRequest)
@bp.response(200, QueuePresence)
def set_queue_presence(data: dict, user_id: int, queue_id: int) -> dict:
    """Take a member out of one queue or back in (agents: their own memberships)."""
    me = api_user()
    with write() as s:
        commands.authorise(me, users.get_user(s, me.tenant_id, user_id))
        member = queues.set_membership_active(s, me.tenant_id, queue_id, user_id, data["active"], me)
    return {"user_id": user_id, "queue_id": queue_id, "active": member.active}
