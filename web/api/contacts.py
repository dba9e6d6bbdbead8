"""Contacts: the tenant's shared directory (and phonebooks), with the token user's favourites."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, g, url_for
from marshmallow import fields, validate

from control.models import Contact as ContactModel
from control.phone import MAX_NUMBER_TEXT
from control.services import contacts
from control.validators import MAX_AVATAR
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    Body,
    Bool,
    Id,
    ListArgs,
    QueryId,
    choice,
    email_address,
    ids,
    page_body,
    page_schema,
    prefixed,
    sort_choice,
    text,
)
from web.db import db, write

bp = ApiBlueprint("contacts", __name__, description="Contacts: the shared directory and phonebooks.")

SCOPES = ("shared", "personal", "visible", "all")


def _is_favourite(contact: ContactModel) -> bool:
    if "api_favourite_contacts" not in g:
        g.api_favourite_contacts = contacts.favourite_ids(db(), api_user().id)[0]
    return contact.id in g.api_favourite_contacts


class ContactNumber(ma.Schema):
    label = fields.String(metadata={"enum": list(contacts.NUMBER_LABELS)})
    number = fields.String(attribute="e164")


class Contact(ma.Schema):
    id = fields.Integer()
    first_name = fields.String()
    last_name = fields.String()
    company = fields.String()
    job_title = fields.String()
    email = fields.String()
    avatar = fields.String(allow_none=True)
    owner_user_id = fields.Integer(
        allow_none=True, metadata={"description": "Whose phonebook; null for the shared directory."}
    )
    numbers = fields.List(fields.Nested(ContactNumber))
    tag_ids = ids("tags")
    do_not_call = fields.Boolean(metadata={"description": "Opted out: broadcasts skip (and count) it."})
    favourite = fields.Function(
        _is_favourite, metadata={"type": "boolean", "description": "Starred by the token's user."}
    )
    created_at = UtcDateTime()


class ContactNumberInput(Body):
    label = choice(contacts.NUMBER_LABELS)
    number = text(
        MAX_NUMBER_TEXT, metadata={"description": "E.164 or national format of the tenant's country."}
    )


class ContactInput(Body):
    """A name or a company, and at least one number."""

    first_name = text()
    last_name = text()
    company = text(contacts.MAX_COMPANY)
    job_title = text()
    email = email_address(allow_none=True)
    avatar = prefixed(contacts.AVATAR_PREFIXES, "An avatar is an https:// address.", MAX_AVATAR)
    numbers = fields.List(
        fields.Nested(ContactNumberInput),
        validate=validate.Length(max=contacts.MAX_NUMBERS, error="At most {max} numbers."),
        metadata={"description": "Replaces every number."},
    )
    tag_ids = fields.List(Id())
    do_not_call = Bool(metadata={"description": "Opted out of broadcasts."})


class ContactListArgs(ListArgs):
    sort = sort_choice(contacts.SORTS, "name")
    scope = fields.String(
        load_default="shared",
        validate=validate.OneOf(SCOPES),
        metadata={"description": "shared directory, the token user's phonebook, both, or all."},
    )
    tag_id = QueryId(load_default=None)


ContactPage = page_schema(Contact, "ContactPage")


@bp.route("", methods=["GET"])
@bp.arguments(ContactListArgs, location="query")
@bp.response(200, ContactPage)
def index(args: dict) -> dict:
    """List contacts (search by name, company, e-mail or number; sort: name, first_name, company, created)."""
    me = api_user()
    return page_body(contacts.list_contacts(db(), me.tenant_id, owner_user_id=me.id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(ContactInput)
@bp.response(201, Contact)
def create(data: dict):  # type: ignore[no-untyped-def]
    """Add a contact to the shared directory."""
    me = api_user()
    with write() as s:
        contact = contacts.create_contact(s, me.tenant_id, data, me)
    return contact, {"Location": url_for(".show", contact_id=contact.id)}


@bp.route("/<id:contact_id>", methods=["GET"])
@bp.response(200, Contact)
def show(contact_id: int):  # type: ignore[no-untyped-def]
    return contacts.get_contact(db(), api_user().tenant_id, contact_id)


@bp.route("/<id:contact_id>", methods=["PATCH"])
@bp.arguments(ContactInput)
@bp.response(200, Contact)
def update(data: dict, contact_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return contacts.update_contact(s, me.tenant_id, contact_id, data, me)


@bp.route("/<id:contact_id>", methods=["DELETE"])
@bp.response(204)
def delete(contact_id: int) -> Response:
    me = api_user()
    with write() as s:
        contacts.delete_contact(s, me.tenant_id, contact_id, me)
    return Response(status=204)


def _favourite(contact_id: int, on: bool):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        contacts.set_favourite(s, me, contact_id=contact_id, on=on)
        return contacts.get_contact(s, me.tenant_id, contact_id)


@bp.route("/<id:contact_id>/favourite", methods=["POST"])
@bp.response(200, Contact)
def favourite(contact_id: int):  # type: ignore[no-untyped-def]
    """Star the contact for the token's user."""
    return _favourite(contact_id, True)


@bp.route("/<id:contact_id>/favourite", methods=["DELETE"])
@bp.response(200, Contact)
def unfavourite(contact_id: int):  # type: ignore[no-untyped-def]
    return _favourite(contact_id, False)
