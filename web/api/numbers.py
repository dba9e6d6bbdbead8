"""Phone numbers (DIDs): buy, documents and approval, high risk and replacement, add, assign,
transfer to another line, release; the per-country rules and the inventory."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, send_file, url_for
from marshmallow import fields, validate

from control import number_providers
from control.errors import Invalid, NotFound
from control.models.numbers import NUMBER_STATUSES, NUMBER_TYPES
from control.number_providers import NumberQuery, ProviderError
from control.phone import MAX_NUMBER_TEXT
from control.services import number_documents, number_lifecycle, number_rules, numbers
from control.validators import E164
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint, upload
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    Body,
    Bool,
    Id,
    ListArgs,
    page_body,
    page_schema,
    query_choice,
    required_text,
    rule_text,
    sort_choice,
)
from web.db import db, write
from web.uploads import only

bp = ApiBlueprint("numbers", __name__, description="Phone numbers (DIDs) in E.164.")


class Number(ma.Schema):
    id = fields.Integer()
    e164 = fields.String()
    country = fields.String()
    number_type = fields.String(metadata={"enum": list(NUMBER_TYPES)})
    status = fields.String(metadata={"enum": list(NUMBER_STATUSES)})
    cancel_at = UtcDateTime(allow_none=True)
    do_not_use = Bool()
    team_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    line_id = fields.Integer(allow_none=True)
    provider = fields.String(
        allow_none=True, metadata={"description": "Where it was bought; null: added by hand."}
    )
    replaced_by_id = fields.Integer(allow_none=True, metadata={"description": "While to be cancelled."})
    approved_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class NumberUpdate(Body):
    """Assignment and use; the status and cancel date move only through the actions."""

    @ma.pre_load
    def refuse_status(self, data: object, **_kwargs: object) -> object:
        if isinstance(data, dict):
            named = {key: [number_lifecycle.STATUS_MOVES] for key in ("status", "cancel_at") if key in data}
            if named:
                raise ma.ValidationError(named)
        return data

    do_not_use = Bool(metadata={"description": "Never present it as caller ID."})
    team_id = Id(allow_none=True)
    user_id = Id(allow_none=True)
    line_id = Id(allow_none=True)


class NumberCreate(NumberUpdate):
    number = required_text(
        MAX_NUMBER_TEXT, metadata={"description": "E.164 or national format of the tenant's country."}
    )


class NumberListArgs(ListArgs):
    sort = sort_choice(numbers.SORTS, "number")
    status = query_choice(NUMBER_STATUSES)
    number_type = query_choice(NUMBER_TYPES)
    country = fields.String(load_default="", metadata={"description": "ISO country code, e.g. US."})
    assigned = query_choice(("yes", "no"))


class AvailableArgs(ma.Schema):
    country = fields.String(
        load_default="",
        validate=validate.OneOf(
            ["", *sorted(number_rules.COUNTRIES)], error="A country code of two letters, like FR."
        ),
        metadata={"description": "ISO country code, e.g. FR."},
    )
    number_type = query_choice(NUMBER_TYPES)
    digits = fields.String(
        load_default="",
        validate=validate.Regexp(r"^[0-9]{0,15}$", error="Digits only, at most 15."),
        metadata={"description": "Digits the number contains."},
    )


class Available(ma.Schema):
    e164 = fields.String()
    country = fields.String()
    number_type = fields.String(metadata={"enum": list(NUMBER_TYPES)})
    documents_required = Bool(metadata={"description": "Bought, it is pending until approved."})


class Buy(Body):
    e164 = rule_text(E164, required=True, error_messages={"required": "This field is required."})


class Replace(Body):
    replacement_id = Id(metadata={"description": "One of your active, unassigned numbers."})
    buy = rule_text(E164, metadata={"description": "Or a number to buy (from /numbers/available)."})

    @ma.validates_schema
    def one_of(self, data: dict, **_kwargs: object) -> None:
        if ("replacement_id" in data) == ("buy" in data):
            raise ma.ValidationError("Give replacement_id or buy, not both.", "replacement_id")


class Document(ma.Schema):
    id = fields.Integer()
    number_id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    uploaded_at = UtcDateTime()


class DocumentUpload(ma.Schema):
    document = fields.Raw(
        required=True,
        metadata={"type": "string", "format": "binary", "description": "PDF, PNG or JPEG, at most 5 MB."},
    )


class InventoryUpload(ma.Schema):
    file = fields.Raw(
        required=True,
        metadata={"type": "string", "format": "binary", "description": "CSV: columns number and type."},
    )


class InventoryLoaded(ma.Schema):
    added = fields.Integer()
    already = fields.Integer()
    available = fields.Integer()
    bought = fields.Integer()


class Transfer(Body):
    line_id = Id(required=True, error_messages={"required": "This field is required."})


NumberPage = page_schema(Number, "NumberPage")


@bp.route("", methods=["GET"])
@bp.arguments(NumberListArgs, location="query")
@bp.response(200, NumberPage)
def index(args: dict) -> dict:
    """List numbers (search by digits; sort: number, country, status, created)."""
    return page_body(numbers.list_numbers(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(NumberCreate)
@bp.response(201, Number)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        number = numbers.create_number(s, me.tenant_id, data, me)
    return number, {"Location": url_for(".show", number_id=number.id)}


@bp.route("/<id:number_id>", methods=["GET"])
@bp.response(200, Number)
def show(number_id: int):  # type: ignore[no-untyped-def]
    return numbers.get_number(db(), api_user().tenant_id, number_id)


@bp.route("/<id:number_id>", methods=["PATCH"])
@bp.arguments(NumberUpdate)
@bp.response(200, Number)
def update(data: dict, number_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return numbers.update_number(s, me.tenant_id, number_id, data, me)


@bp.route("/<id:number_id>", methods=["DELETE"])
@bp.response(204)
def delete(number_id: int) -> Response:
    me = api_user()
    with write() as s:
        numbers.delete_number(s, me.tenant_id, number_id, me)
    return Response(status=204)


@bp.route("/<id:number_id>/transfer", methods=["POST"])
@bp.arguments(Transfer)
@bp.response(200, Number)
def transfer(data: dict, number_id: int):  # type: ignore[no-untyped-def]
    """Move the number to another line."""
    me = api_user()
    with write() as s:
        return numbers.transfer_number(s, me.tenant_id, number_id, data["line_id"], me)


@bp.route("/<id:number_id>/release", methods=["POST"])
@bp.response(200, Number)
def release(number_id: int):  # type: ignore[no-untyped-def]
    """Release the number for good: it stops routing and leaves every assignment."""
    me = api_user()
    with write() as s:
        return numbers.release_number(s, me.tenant_id, number_id, me)


@bp.route("/available", methods=["GET"])
@bp.arguments(AvailableArgs, location="query")
@bp.response(200, Available(many=True))
def available(args: dict) -> list[dict]:
    """Numbers the provider sells now (search by country, type and digits)."""
    me = api_user()
    country = args["country"]
    query = NumberQuery(country=country, number_type=args["number_type"], digits=args["digits"])
    try:
        found = number_providers.provider(db(), me.tenant_id).search(query)
    except ProviderError as exc:
        raise Invalid(str(exc), "provider") from exc
    return [
        {
            "e164": item.e164,
            "country": item.country,
            "number_type": item.number_type,
            "documents_required": number_rules.documents_required(db(), me.tenant_id, item.country),
        }
        for item in found
    ]


@bp.route("/buy", methods=["POST"])
@bp.arguments(Buy)
@bp.response(201, Number)
def buy(data: dict):  # type: ignore[no-untyped-def]
    """Buy a number: pending when its country needs documents, else active at once."""
    me = api_user()
    with write() as s:
        number = number_lifecycle.buy_number(s, me.tenant_id, data["e164"], me)
    return number, {"Location": url_for(".show", number_id=number.id)}


@bp.route("/<id:number_id>/approve", methods=["POST"])
@bp.response(200, Number)
def approve(number_id: int):  # type: ignore[no-untyped-def]
    """Approve a pending number whose documents are uploaded (number approvers only)."""
    me = api_user()
    with write() as s:
        return number_lifecycle.approve_number(s, me.tenant_id, number_id, me)


@bp.route("/<id:number_id>/high-risk", methods=["POST"])
@bp.response(200, Number)
def flag_high_risk(number_id: int):  # type: ignore[no-untyped-def]
    """Mark an active number high risk."""
    me = api_user()
    with write() as s:
        return number_lifecycle.flag_high_risk(s, me.tenant_id, number_id, me)


@bp.route("/<id:number_id>/clear-high-risk", methods=["POST"])
@bp.response(200, Number)
def clear_high_risk(number_id: int):  # type: ignore[no-untyped-def]
    """A high-risk number is active again."""
    me = api_user()
    with write() as s:
        return number_lifecycle.clear_high_risk(s, me.tenant_id, number_id, me)


@bp.route("/<id:number_id>/replace", methods=["POST"])
@bp.arguments(Replace)
@bp.response(200, Number)
def replace(data: dict, number_id: int):  # type: ignore[no-untyped-def]
    """Replace a high-risk number; answers the replacement. The old one is to be cancelled in 30 days."""
    me = api_user()
    with write() as s:
        return number_lifecycle.replace_number(s, me.tenant_id, number_id, data, me)


@bp.route("/<id:number_id>/cancel-replacement", methods=["POST"])
@bp.response(200, Number)
def cancel_replacement(number_id: int):  # type: ignore[no-untyped-def]
    """Keep a number being cancelled: high risk again, never released by the schedule."""
    me = api_user()
    with write() as s:
        return number_lifecycle.cancel_replacement(s, me.tenant_id, number_id, me)


@bp.route("/<id:number_id>/documents", methods=["GET"])
@bp.response(200, Document(many=True))
def documents(number_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    numbers.get_number(db(), me.tenant_id, number_id)
    return number_documents.list_documents(db(), me.tenant_id, number_id)


@bp.route("/<id:number_id>/documents", methods=["POST"])
@upload(number_documents.MAX_UPLOAD_BYTES)
@bp.arguments(DocumentUpload, location="files")
@bp.response(201, Document)
def upload_document(files: dict, number_id: int):  # type: ignore[no-untyped-def]
    """Upload a document for a pending number (multipart field `document`)."""
    me = api_user()
    only("document")
    upload = files["document"]
    content = upload.stream.read(number_documents.MAX_DOCUMENT_BYTES + 1)
    with write() as s:
        return number_documents.add_document(s, me.tenant_id, number_id, upload.filename or "", content, me)


@bp.route("/documents/<id:document_id>", methods=["GET"])
@bp.doc(
    responses={
        "200": {
            "description": "The document, with its own type.",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}} for kind in number_documents.KINDS
            },
        }
    }
)
def document(document_id: int) -> Response:
    """The document's content (its type in Content-Type)."""
    me = api_user()
    found = number_documents.get_document(db(), me.tenant_id, document_id)
    path = number_documents.document_path(found)
    if not path.is_file():
        raise NotFound("document", document_id)
    return send_file(path, mimetype=found.content_type, as_attachment=True, download_name=found.filename)


@bp.route("/inventory", methods=["POST"])
@upload(number_documents.MAX_UPLOAD_BYTES)
@bp.arguments(InventoryUpload, location="files")
@bp.response(200, InventoryLoaded)
def load_inventory(files: dict) -> dict:
    """Add a CSV's numbers to the inventory the built-in provider sells from."""
    me = api_user()
    try:
        text_body = files["file"].stream.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file must be UTF-8 text (CSV).", "file") from None
    with write() as s:
        loaded = number_providers.load_inventory(s, me.tenant_id, text_body)
    available_count, bought = number_providers.inventory_counts(db(), me.tenant_id)
    return {"added": loaded.added, "already": loaded.already, "available": available_count, "bought": bought}
