"""The token user's own portal data: profile and settings, phonebook, call history, favourites
and personal tokens. Every route acts on the token's user only: another user's ids are 404."""

from __future__ import annotations

import re

import marshmallow as ma
from flask import Response, url_for
from flask_smorest.fields import Upload
from marshmallow import fields

from control.phone import MAX_NUMBER_TEXT
from control.services import (
    accounts,
    avatars,
    call_history,
    contacts,
    my_account,
    phonebook,
    portal_contacts,
    presence,
    users,
)
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    REQUIRED,
    Body,
    Bool,
    Id,
    PageArgs,
    choice,
    email_address,
    name_text,
    page_body,
    page_schema,
    patterned,
    required_text,
)
from web.db import db, write
from web.uploads import accepts_upload, only

bp = ApiBlueprint(
    "me",
    __name__,
    description="The token user's own phonebook, history, favourites and settings.",
    admin=False,
)


class SearchArgs(PageArgs):
    q = fields.String(load_default="", metadata={"description": "A name or any digits of a number."})


class MyQueue(ma.Schema):
    queue_id = fields.Integer()
    name = fields.String()
    extension = fields.String()
    active = fields.Boolean(metadata={"description": "true: this queue offers the user its calls."})


class Me(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    role = fields.String()
    extension = fields.String(allow_none=True)
    notifications = fields.Boolean(metadata={"description": "Browser call notifications."})
    caller_id_number_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The chosen caller ID (GET /me/caller-ids); null: the line's default."},
    )
    language = fields.String(metadata={"description": "The portal's language; empty: the browser's."})
    avatar = fields.String(allow_none=True, metadata={"description": "PUT /me/avatar sets it."})
    dnd = fields.Boolean(metadata={"description": "Do Not Disturb (else Online)."})
    presence = fields.String(
        metadata={"enum": list(presence.STATES), "description": "The user's presence as others see it."}
    )
    queues = fields.List(fields.Nested(MyQueue), metadata={"description": "The user's queues."})


class MeInput(Body):
    email = email_address()
    notifications = Bool()
    caller_id_number_id = Id(allow_none=True)
    language = choice(my_account.LANGUAGE_CHOICES, allow_none=False)
    dnd = Bool(
        metadata={"description": "true: Do Not Disturb, calls skip the user; false: Online. Live on the PBX."}
    )


class AvatarUpload(ma.Schema):
    avatar = Upload(
        required=True,
        error_messages=REQUIRED,
        metadata={"description": "A PNG, JPEG or WebP image of at most 2 MB (stored re-encoded, 256 px)."},
    )


class AvatarOut(ma.Schema):
    avatar = fields.String(metadata={"description": "Where it is served (to users of the tenant)."})


class QueueActiveInput(Body):
    active = Bool(
        required=True,
        error_messages={**REQUIRED, "invalid": "Not a boolean (true or false)."},
        metadata={"description": "true: this queue offers the user its calls; false: none from it."},
    )


class CallerId(ma.Schema):
    id = fields.Integer()
    number = fields.String(attribute="e164")


PASSWORD_RULE = f"A password has {users.MIN_PASSWORD} to {users.MAX_PASSWORD} characters."
NEW_PASSWORD = re.compile(f"^[\\s\\S]{{{users.MIN_PASSWORD},{users.MAX_PASSWORD}}}$")


class PasswordInput(Body):
    current_password = required_text(users.MAX_PASSWORD, load_only=True)
    password = patterned(
        NEW_PASSWORD,
        PASSWORD_RULE,
        required=True,
        load_only=True,
        error_messages=REQUIRED,
        metadata={"description": PASSWORD_RULE},
    )


class PhonebookEntry(ma.Schema):
    id = fields.Integer()
    name = fields.Function(lambda c: c.display_name)
    number = fields.Function(lambda c: c.numbers[0].e164 if c.numbers else "")
    email = fields.String()
    created_at = UtcDateTime()


class PhonebookInput(Body):
    name = name_text()
    number = name_text(
        MAX_NUMBER_TEXT, metadata={"description": "E.164 or national format of the tenant's country."}
    )
    email = email_address(allow_none=True)


class NewPhonebookEntry(PhonebookInput):
    name = required_text()
    number = required_text(
        MAX_NUMBER_TEXT, metadata={"description": "E.164 or national format of the tenant's country."}
    )


class HistoryEntry(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(call_history.KINDS)})
    number = fields.String(metadata={"description": "The other party's number."})
    name = fields.String(metadata={"description": "From the user's phonebook, else the number."})
    contact_id = fields.Integer(allow_none=True, metadata={"description": "The phonebook entry, if any."})
    line = fields.String(
        metadata={"description": "Inbound: the number called; outbound: the caller ID shown."}
    )
    duration = fields.String(metadata={"description": "mm:ss"})
    seconds = fields.Integer()
    started_at = UtcDateTime()


class Favourites(ma.Schema):
    contact_ids = fields.List(fields.Integer())
    user_ids = fields.List(fields.Integer())


class Token(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    created_at = UtcDateTime()
    last_used_at = UtcDateTime(allow_none=True)


class TokenInput(Body):
    name = required_text(my_account.MAX_TOKEN_NAME)


class NewToken(ma.Schema):
    token = fields.String(metadata={"description": "Shown once; only its digest is stored."})


PhonebookPage = page_schema(PhonebookEntry, "PhonebookPage")
HistoryPage = page_schema(HistoryEntry, "HistoryPage")


def _me() -> dict:
    me = api_user()
    session = db()
    return {
        "id": me.id,
        "name": me.name,
        "email": me.email,
        "role": me.role,
        "extension": me.extension,
        "notifications": me.notifications,
        "caller_id_number_id": me.caller_id_number_id,
        "language": me.language,
        "avatar": me.avatar,
        **my_account.status(session, me),
        "queues": my_account.queue_memberships(session, me),
    }


@bp.route("", methods=["GET"])
@bp.response(200, Me)
def show() -> dict:
    """The token's user, their status (Online / Do Not Disturb), presence and queues."""
    return _me()


@bp.route("", methods=["PATCH"])
@bp.arguments(MeInput)
@bp.response(200, Me)
def update(data: dict) -> dict:
    """Change the email address, language, browser call notifications, the caller ID or the
    status (`dnd`, live on the PBX at once)."""
    me = api_user()
    with write() as s:
        if "email" in data:
            my_account.change_email(s, me, data)
        if "notifications" in data:
            my_account.set_notifications(s, me, data["notifications"])
        if "caller_id_number_id" in data:
            my_account.choose_caller_id(s, me, data["caller_id_number_id"])
        if "language" in data:
            my_account.set_language(s, me, data)
        if data.get("dnd") is not None and data["dnd"] != me.dnd:
            my_account.set_status(s, me, data["dnd"])
    return _me()


@bp.route("/queues", methods=["GET"])
@bp.response(200, MyQueue(many=True))
def my_queues() -> list[dict]:
    """The queues the user is a member of, and whether each offers them its calls."""
    return my_account.queue_memberships(db(), api_user())


@bp.route("/queues/<id:queue_id>", methods=["PUT"])
@bp.arguments(QueueActiveInput)
@bp.response(200, MyQueue)
def set_queue_active(data: dict, queue_id: int) -> dict:
    """Turn one queue on (it offers the user its calls) or off (none from it; the user's other
    queues are unaffected), live on the PBX at once. Not a member of that queue: 404."""
    me = api_user()
    with write() as s:
        my_account.set_queue_active(s, me, queue_id, data["active"])
    return next(q for q in my_account.queue_memberships(db(), me) if q["queue_id"] == queue_id)


@bp.route("/caller-ids", methods=["GET"])
@bp.response(200, CallerId(many=True))
def caller_ids():  # type: ignore[no-untyped-def]
    """The numbers the user may present as caller ID (never a do-not-use or released one)."""
    return my_account.caller_ids(db(), api_user())


@bp.route("/password", methods=["POST"])
@bp.arguments(PasswordInput)
@bp.response(204)
def change_password(data: dict) -> Response:
    """Change the password: the current one is required, the new one follows the usual rules."""
    with write() as s:
        accounts.change_own_password(s, api_user(), data["current_password"] or "", data["password"] or "")
    return Response(status=204)


@bp.route("/phonebook", methods=["GET"])
@bp.arguments(SearchArgs, location="query")
@bp.response(200, PhonebookPage)
def phonebook_index(args: dict) -> dict:
    """The user's phonebook by name; `q` matches a name or any digits of the number."""
    return page_body(phonebook.list_entries(db(), api_user(), **args))


@bp.route("/phonebook", methods=["POST"])
@bp.arguments(NewPhonebookEntry)
@bp.response(201, PhonebookEntry)
def phonebook_create(data: dict):  # type: ignore[no-untyped-def]
    with write() as s:
        entry = phonebook.create_entry(s, api_user(), data)
    return entry, {"Location": url_for(".phonebook_show", contact_id=entry.id)}


@bp.route("/phonebook/<id:contact_id>", methods=["GET"])
@bp.response(200, PhonebookEntry)
def phonebook_show(contact_id: int):  # type: ignore[no-untyped-def]
    return phonebook.get_entry(db(), api_user(), contact_id)


@bp.route("/phonebook/<id:contact_id>", methods=["PATCH"])
@bp.arguments(PhonebookInput)
@bp.response(200, PhonebookEntry)
def phonebook_update(data: dict, contact_id: int):  # type: ignore[no-untyped-def]
    with write() as s:
        return phonebook.update_entry(s, api_user(), contact_id, data)


@bp.route("/phonebook/<id:contact_id>", methods=["DELETE"])
@bp.response(204)
def phonebook_delete(contact_id: int) -> Response:
    with write() as s:
        phonebook.delete_entry(s, api_user(), contact_id)
    return Response(status=204)


@bp.route("/history", methods=["GET"])
@bp.arguments(SearchArgs, location="query")
@bp.response(200, HistoryPage)
def history(args: dict) -> dict:
    """The user's calls, newest first; `q` matches a name (phonebook names too) or any digits."""
    return page_body(call_history.history(db(), api_user(), **args))


@bp.route("/favourites", methods=["GET"])
@bp.response(200, Favourites)
def favourites() -> dict:
    """What the user starred: shared contacts and teammates (listed first in the portal)."""
    contact_ids, user_ids = contacts.favourite_ids(db(), api_user().id)
    return {"contact_ids": sorted(contact_ids), "user_ids": sorted(user_ids)}


def _star(on: bool, *, contact_id: int | None = None, user_id: int | None = None) -> Response:
    with write() as s:
        portal_contacts.star(s, api_user(), contact_id=contact_id, favourite_user_id=user_id, on=on)
    return Response(status=204)


@bp.route("/favourites/contacts/<id:contact_id>", methods=["PUT"])
@bp.response(204)
def star_contact(contact_id: int) -> Response:
    return _star(True, contact_id=contact_id)


@bp.route("/favourites/contacts/<id:contact_id>", methods=["DELETE"])
@bp.response(204)
def unstar_contact(contact_id: int) -> Response:
    return _star(False, contact_id=contact_id)


@bp.route("/favourites/users/<id:user_id>", methods=["PUT"])
@bp.response(204)
def star_user(user_id: int) -> Response:
    return _star(True, user_id=user_id)


@bp.route("/favourites/users/<id:user_id>", methods=["DELETE"])
@bp.response(204)
def unstar_user(user_id: int) -> Response:
    return _star(False, user_id=user_id)


@bp.route("/tokens", methods=["GET"])
@bp.response(200, Token(many=True))
def tokens():  # type: ignore[no-untyped-def]
    """The user's personal API tokens (never the tokens themselves, only their names and use)."""
    return my_account.tokens(db(), api_user())


@bp.route("/tokens", methods=["POST"])
@bp.arguments(TokenInput)
@bp.response(201, NewToken)
def create_token(data: dict) -> dict:
    with write() as s:
        token = my_account.create_token(s, api_user(), data)
    return {"token": token}


@bp.route("/tokens/<id:token_id>", methods=["DELETE"])
@bp.response(204)
def revoke_token(token_id: int) -> Response:
    with write() as s:
        my_account.revoke_token(s, api_user(), token_id)
    return Response(status=204)


@bp.route("/avatar", methods=["PUT"])
@bp.arguments(AvatarUpload, location="files")
@bp.response(200, AvatarOut)
def set_avatar(files: dict) -> dict:
    """Upload an avatar (multipart/form-data, field `avatar`): decoded and re-encoded, so no script
    or metadata survives; not a PNG, JPEG or WebP, over 2 MB or a polyglot: 422 naming `avatar`."""
    only("avatar")
    with write() as s:
        url = avatars.set_user_avatar(s, api_user(), files["avatar"].read())
    return {"avatar": url}


accepts_upload("api_me.set_avatar")


@bp.route("/avatar", methods=["DELETE"])
@bp.response(204)
def remove_avatar() -> Response:
    with write() as s:
        avatars.remove_user_avatar(s, api_user())
    return Response(status=204)
