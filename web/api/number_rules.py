"""Per-country rules for new numbers: the countries whose numbers need documents approved."""

from __future__ import annotations

import marshmallow as ma
from flask import Response
from marshmallow import fields

from control.errors import Invalid
from control.services import number_rules
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.schemas import Body, Bool, text
from web.db import db, write

COUNTRY = {
    "in": "path",
    "name": "country",
    "required": True,
    "description": "ISO country code, upper case.",
    "schema": {"type": "string", "enum": sorted(number_rules.COUNTRIES)},
}


class Rule(ma.Schema):
    country = fields.String()
    documents_required = Bool()
    documents = fields.String(metadata={"description": "What to upload."})


class RuleBody(Body):
    documents_required = Bool(required=True, error_messages={"required": "This field is required."})
    documents = text(number_rules.MAX_DOCUMENTS_TEXT)


bp = ApiBlueprint(
    "number-rules", __name__, description="Per-country rules for new numbers: which need documents approved."
)


@bp.route("", methods=["GET"])
@bp.response(200, Rule(many=True))
def rules_index():  # type: ignore[no-untyped-def]
    """Countries whose new numbers need documents approved first."""
    return number_rules.list_rules(db(), api_user().tenant_id)


@bp.route("/<string(minlength=1, maxlength=2):country>", methods=["PUT"])
@bp.doc(parameters=[COUNTRY])
@bp.arguments(RuleBody)
@bp.response(200, Rule)
def rules_set(data: dict, country: str):  # type: ignore[no-untyped-def]
    me = api_user()
    if country not in number_rules.COUNTRIES:  # upper case only, as documented
        raise Invalid("A country code of two letters, like FR or DE.", "country")
    with write() as s:
        return number_rules.set_rule(s, me.tenant_id, data | {"country": country}, me)


@bp.route("/<string(minlength=1, maxlength=2):country>", methods=["DELETE"])
@bp.doc(parameters=[COUNTRY])
@bp.response(204)
def rules_delete(country: str) -> Response:
    me = api_user()
    with write() as s:
        number_rules.delete_rule(s, me.tenant_id, country, me)
    return Response(status=204)
