"""Ring groups: ordered members with their own ring timeouts; a member that makes a loop is refused."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields, validate

from control.models import DESTINATION_KINDS, RingGroupMember
from control.models.ring_groups import MEMBER_KINDS, RING_STRATEGIES
from control.services import destinations, ring_groups
from control.validators import MEMBER_TIMEOUT, RING_GROUP_TIMEOUT
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    REQUIRED,
    Body,
    IdOrText,
    ListArgs,
    choice,
    extension_text,
    name_text,
    page_body,
    page_schema,
    query_choice,
    required_text,
    sort_choice,
    whole_number,
)
from web.db import db, write

bp = ApiBlueprint("ring-groups", __name__, description="Ring groups: extensions that ring several phones.")

MEMBER_TARGET = "A user, ring group or DID id; an extension; an external number; or a SIP URI."
FALLBACK_TARGET = "Where unanswered calls go: an id (user, ring group, queue), an extension or a number."


def _member_target(member: RingGroupMember) -> str:
    ident = {"user": member.user_id, "ring_group": member.member_ring_group_id, "did": member.number_id}
    value = ident[member.kind] if member.kind in ident else member.value
    return "" if value is None else str(value)


class RingMember(ma.Schema):
    kind = fields.String(metadata={"enum": list(MEMBER_KINDS)})
    target = fields.Function(_member_target, metadata={"type": "string", "description": MEMBER_TARGET})
    timeout = fields.Integer(metadata={"description": "Seconds this member rings."})


class RingGroup(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    extension = fields.String()
    strategy = fields.String(metadata={"enum": list(RING_STRATEGIES)})
    timeout = fields.Integer()
    fallback_kind = fields.String(allow_none=True, metadata={"enum": list(DESTINATION_KINDS)})
    fallback_target = fields.Function(
        lambda group: destinations.target_of(group, "fallback"),
        metadata={"type": "string", "description": FALLBACK_TARGET},
    )
    members = fields.List(fields.Nested(RingMember))
    created_at = UtcDateTime()


class RingMemberInput(Body):
    kind = required_text(metadata={"enum": list(MEMBER_KINDS)})
    target = IdOrText(allow_none=True, metadata={"description": MEMBER_TARGET})
    timeout = whole_number(MEMBER_TIMEOUT, allow_none=True, metadata={"description": "Seconds."})


class RingGroupUpdate(Body):
    name = name_text()
    strategy = choice(RING_STRATEGIES)
    extension = extension_text(metadata={"description": "Cannot change after creation."})
    timeout = whole_number(RING_GROUP_TIMEOUT, allow_none=True, metadata={"description": "Seconds."})
    fallback_kind = choice(DESTINATION_KINDS)
    fallback_target = IdOrText(allow_none=True, metadata={"description": FALLBACK_TARGET})
    members = fields.List(
        fields.Nested(RingMemberInput),
        validate=validate.Length(max=ring_groups.MAX_MEMBERS, error="At most {max} members."),
        metadata={"description": "Replaces every member."},
    )


class RingGroupCreate(RingGroupUpdate):
    name = required_text()
    extension = extension_text(
        required=True, error_messages=REQUIRED, metadata={"description": "Cannot change after creation."}
    )


class RingGroupListArgs(ListArgs):
    sort = sort_choice(ring_groups.SORTS, "extension")
    strategy = query_choice(RING_STRATEGIES)


RingGroupPage = page_schema(RingGroup, "RingGroupPage")


@bp.route("", methods=["GET"])
@bp.arguments(RingGroupListArgs, location="query")
@bp.response(200, RingGroupPage)
def index(args: dict) -> dict:
    """List ring groups (search by name or extension; sort: name, extension, strategy)."""
    return page_body(ring_groups.list_ring_groups(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(RingGroupCreate)
@bp.response(201, RingGroup)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        group = ring_groups.create_ring_group(s, me.tenant_id, data, me)
    return group, {"Location": url_for(".show", group_id=group.id)}


@bp.route("/<id:group_id>", methods=["GET"])
@bp.response(200, RingGroup)
def show(group_id: int):  # type: ignore[no-untyped-def]
    return ring_groups.get_ring_group(db(), api_user().tenant_id, group_id)


@bp.route("/<id:group_id>", methods=["PATCH"])
@bp.arguments(RingGroupUpdate)
@bp.response(200, RingGroup)
def update(data: dict, group_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return ring_groups.update_ring_group(s, me.tenant_id, group_id, data, me)


@bp.route("/<id:group_id>", methods=["DELETE"])
@bp.response(204)
def delete(group_id: int) -> Response:
    """Delete the group; 409 with the lines and groups that still use it."""
    me = api_user()
    with write() as s:
        ring_groups.delete_ring_group(s, me.tenant_id, group_id, me)
    return Response(status=204)
