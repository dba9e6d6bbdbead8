"""Users: admins and agents with SIP extensions; pause, suspend, SIP-secret reveal, delete."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control.services import users
from control.validators import MAX_AVATAR
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    REQUIRED,
    Body,
    Bool,
    DeleteArgs,
    Id,
    ListArgs,
    QueryId,
    choice,
    email_address,
    extension_text,
    ids,
    name_text,
    page_body,
    page_schema,
    password,
    prefixed,
    query_choice,
    required_text,
    sort_choice,
)
from web.db import db, write

bp = ApiBlueprint("users", __name__, description="Admins and agents, with their SIP extensions.")

STATUSES = ("active", "paused", "suspended")


class User(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    role = fields.String()
    extension = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(STATUSES)})
    routing_paused = Bool()
    suspended = Bool()
    dnd = Bool()
    language = fields.String()
    avatar = fields.String(allow_none=True)
    notifications = Bool()
    approves_numbers = Bool(metadata={"description": "The number approver permission (admins only)."})
    caller_id_number_id = fields.Integer(allow_none=True)
    team_ids = ids("teams")
    created_at = UtcDateTime()


class UserUpdate(Body):
    name = name_text()
    email = email_address()
    role = choice(users.ROLES)
    extension = extension_text(allow_none=True, metadata={"description": "null for none."})
    language = choice(users.LANGUAGES)
    notifications = Bool()
    approves_numbers = Bool(metadata={"description": "May approve pending numbers (admins only)."})
    dnd = Bool()
    routing_paused = Bool()
    avatar = prefixed(users.AVATAR_PREFIXES, "An avatar is an https:// address.", MAX_AVATAR)
    password = password()
    caller_id_number_id = Id(allow_none=True)
    team_ids = fields.List(Id())


class UserCreate(UserUpdate):
    name = required_text()
    email = email_address(required=True, error_messages=REQUIRED)


class UserListArgs(ListArgs):
    sort = sort_choice(users.SORTS, "name")
    status = query_choice(STATUSES)
    role = query_choice(users.ROLES)
    team_id = QueryId(load_default=None)


class SipSecret(ma.Schema):
    sip_secret = fields.String()


UserPage = page_schema(User, "UserPage")


@bp.route("", methods=["GET"])
@bp.arguments(UserListArgs, location="query")
@bp.response(200, UserPage)
def index(args: dict) -> dict:
    """List users (search by name, e-mail or extension; sort: name, email, extension, created)."""
    return page_body(users.list_users(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(UserCreate)
@bp.response(201, User)
def create(data: dict):  # type: ignore[no-untyped-def]
    """Create a user; a SIP secret is generated (reveal it with POST …/sip-secret)."""
    me = api_user()
    with write() as s:
        user = users.create_user(s, me.tenant_id, data, me)
    return user, {"Location": url_for(".show", user_id=user.id)}


@bp.route("/<id:user_id>", methods=["GET"])
@bp.response(200, User)
def show(user_id: int):  # type: ignore[no-untyped-def]
    return users.get_user(db(), api_user().tenant_id, user_id)


@bp.route("/<id:user_id>", methods=["PATCH"])
@bp.arguments(UserUpdate)
@bp.response(200, User)
def update(data: dict, user_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return users.update_user(s, me.tenant_id, user_id, data, me)


@bp.route("/<id:user_id>", methods=["DELETE"])
@bp.arguments(DeleteArgs, location="query")
@bp.response(204)
def delete(args: dict, user_id: int) -> Response:
    """Delete a user; 409 with the dependencies unless `acknowledge=true` (they are detached then)."""
    me = api_user()
    with write() as s:
        users.delete_user(s, me.tenant_id, user_id, me, acknowledged=args["acknowledge"])
    return Response(status=204)


def _flag(user_id: int, flag: str, value: bool):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return users.set_flag(s, me.tenant_id, user_id, flag, value, me)


@bp.route("/<id:user_id>/pause", methods=["POST"])
@bp.response(200, User)
def pause(user_id: int):  # type: ignore[no-untyped-def]
    """Stop routing calls to the user."""
    return _flag(user_id, "routing_paused", True)


@bp.route("/<id:user_id>/activate", methods=["POST"])
@bp.response(200, User)
def activate(user_id: int):  # type: ignore[no-untyped-def]
    """Route calls to the user again."""
    return _flag(user_id, "routing_paused", False)


@bp.route("/<id:user_id>/suspend", methods=["POST"])
@bp.response(200, User)
def suspend(user_id: int):  # type: ignore[no-untyped-def]
    """Suspend the account: no login, no API token, no calls."""
    return _flag(user_id, "suspended", True)


@bp.route("/<id:user_id>/unsuspend", methods=["POST"])
@bp.response(200, User)
def unsuspend(user_id: int):  # type: ignore[no-untyped-def]
    return _flag(user_id, "suspended", False)


@bp.route("/<id:user_id>/sip-secret", methods=["POST"])
@bp.response(200, SipSecret)
def reveal_sip_secret(user_id: int) -> dict:
    """Reveal the user's SIP secret; every reveal is written to the audit log."""
    me = api_user()
    with write() as s:
        return {"sip_secret": users.sip_secret(s, me.tenant_id, user_id, me)}
