"""Schema pieces every resource uses: request bodies, ids, list arguments and pages.

Request schemas check JSON types only (a string where a string belongs, a list of objects
where rows belong); the services check the values, with the messages the forms show.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from control.services.listing import MAX_PAGE, MAX_PER_PAGE, Page
from control.validators import MAX_ROW_ID as MAX_ID

MAX_DIGITS = 15
REQUIRED = {"required": "This field is required."}


class Body(ma.Schema):
    """A request body: an unknown field is refused (422), so a typo is never silently ignored."""

    class Meta:
        unknown = ma.RAISE


class Id(fields.Integer):
    """The id of one of the tenant's objects; bounded so a huge number is a 422, not a database error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(1, MAX_ID), **kwargs)


class IdOrText(fields.String):
    """A target: an object's id (number or digits) or a value such as an extension or a number.

    All digits means an id to the services: more than 15 (the longest E.164 number) or non-ASCII
    digits can be nothing valid, and are refused here rather than sent to the database.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        text: str = super()._deserialize(value, attr, data, **kwargs)
        digits = text.strip()
        if digits.isdigit() and not (digits.isascii() and len(digits) <= MAX_DIGITS):
            raise ma.ValidationError("Not an id, an extension or a phone number.")
        return text


def text(**kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, **kwargs)


def required_text(**kwargs: Any) -> fields.String:
    """Present on create; an empty value gets the service's own message."""
    return fields.String(required=True, allow_none=True, error_messages=REQUIRED, **kwargs)


def choice(values: tuple[str, ...], **kwargs: Any) -> fields.String:
    """Documented with its choices; the service refuses others with the form's message."""
    return fields.String(allow_none=True, metadata={"enum": list(values)}, **kwargs)


def query_choice(values: tuple[str, ...]) -> fields.String:
    return fields.String(load_default="", validate=validate.OneOf(values))


class Ref(ma.Schema):
    id = fields.Integer()


def ids(attribute: str) -> fields.Pluck:
    """The ids of a related list, e.g. a user's `team_ids` from `teams`."""
    return fields.Pluck(Ref, "id", many=True, attribute=attribute, dump_only=True)


class PageArgs(ma.Schema):
    """Pagination, as the services take it."""

    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PER_PAGE))


class ListArgs(PageArgs):
    """Search, sort and pagination, as the services take them."""

    q = fields.String(load_default="", metadata={"description": "Search text."})
    sort = fields.String(
        load_default=None, metadata={"description": "A sort column; prefix '-' for descending."}
    )


class DeleteArgs(ma.Schema):
    acknowledge = fields.Boolean(
        load_default=False, metadata={"description": "Also remove what depends on it."}
    )


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The schema of one page of `item`s: {"items", "total", "page", "per_page"}."""
    return ma.Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item)),
            "total": fields.Integer(metadata={"description": "Matching items on all pages."}),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
        },
        name=name,
    )


def page_body(page: Page[Any]) -> dict[str, Any]:
    return {"items": page.items, "total": page.total, "page": page.page, "per_page": page.per_page}
