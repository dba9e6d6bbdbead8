"""Schema pieces every resource uses: request bodies, ids, list arguments and pages.

The request schemas state every rule on a single value that the services check (lengths,
patterns, enums, ranges, sort keys), built from the constants the services check with, and
enforce exactly what they state: the document tells clients the truth. Rules that depend on
other values or on what exists (a name or a company; an extension already taken) stay with the
services, which answer them with the messages the forms show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from control.services.listing import MAX_PAGE, MAX_PER_PAGE, Page
from control.services.users import MAX_PASSWORD, MIN_PASSWORD
from control.validators import EMAIL_RE, EXTENSION, MAX_EMAIL, MAX_TEXT, Rule
from control.validators import MAX_ROW_ID as MAX_ID

MAX_DIGITS = 15
REQUIRED = {"required": "This field is required."}
# Character classes spelled out, so that a pattern means the same to every regex dialect (ECMA's
# and Python's \s differ on U+0085 and U+FEFF): control characters and line breaks, and blanks.
CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
BLANK = r"\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff"
LINE_CHAR = f"[^{CONTROL}]"
SHOWN_CHAR = f"[^{BLANK}{CONTROL}]"
# Free text is one line. Text a service requires is not blank either.
ONE_LINE = re.compile(f"^{LINE_CHAR}*$")
VISIBLE = re.compile(f"^{LINE_CHAR}*{SHOWN_CHAR}{LINE_CHAR}*$")
# Several lines, not blank.
NOT_BLANK = re.compile(f"^[\\s\\S]*{SHOWN_CHAR}[\\s\\S]*$")


class Whole(validate.Regexp):
    """The value matches `regex` as a whole (documented as the field's pattern)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


class Int(fields.Integer):
    """A JSON integer: not a string of digits, a float or a boolean."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class Bool(fields.Boolean):
    """A JSON `true` or `false`; never 0, 1, "true" or "yes"."""

    truthy = {True}
    falsy = {False}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise self.make_error("invalid", input=value)


class QueryBool(fields.Boolean):
    """A boolean in a query string: the words `true` or `false`."""

    truthy = {"true"}
    falsy = {"false"}


def whole_number(bounds: tuple[int, int], **kwargs: Any) -> Int:
    """A whole number within the service's inclusive bounds."""
    lo, hi = bounds
    return Int(validate=validate.Range(lo, hi, error=f"Enter a number from {lo} to {hi}."), **kwargs)


class Body(ma.Schema):
    """A request body: an unknown field is refused (422), so a typo is never silently ignored."""

    class Meta:
        unknown = ma.RAISE


class Id(Int):
    """The id of one of the tenant's objects; bounded so a huge number is a 422, not a database error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(1, MAX_ID), **kwargs)


class QueryId(fields.Integer):
    """An id in a query string (text there, by nature), bounded like Id."""

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


class OneLine(Whole):
    """One line of text (`visible`: and not blank), with the services' messages."""

    def __init__(self, *, visible: bool) -> None:
        super().__init__(VISIBLE if visible else ONE_LINE)

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            blank = not value.strip()
            raise ma.ValidationError(
                "This field is required." if blank else "Line breaks and control characters are not allowed."
            )
        return value


class MaxLength(validate.Length):
    """At most `max` characters (documented as maxLength), with the services' message."""

    def __init__(self, max_len: int) -> None:
        super().__init__(max=max_len)

    def __call__(self, value: Any) -> Any:
        if self.max is not None and len(value) > self.max:
            raise ma.ValidationError(f"At most {self.max} characters (got {len(value)}).")
        return value


def _length(max_len: int) -> validate.Length:
    return MaxLength(max_len)


def text(max_len: int = MAX_TEXT, **kwargs: Any) -> fields.String:
    """Optional one-line text; null or "" leaves it empty."""
    return fields.String(allow_none=True, validate=[_length(max_len), OneLine(visible=False)], **kwargs)


def name_text(max_len: int = MAX_TEXT, **kwargs: Any) -> fields.String:
    """Text the service requires (a name): when sent, one line, not blank, not null."""
    return fields.String(validate=[_length(max_len), OneLine(visible=True)], **kwargs)


def required_text(max_len: int = MAX_TEXT, **kwargs: Any) -> fields.String:
    """Text a new object needs."""
    return name_text(max_len, required=True, error_messages=REQUIRED, **kwargs)


def patterned(
    regex: re.Pattern[str],
    message: str,
    max_len: int | None = None,
    whole: type[Whole] = Whole,
    **kwargs: Any,
) -> fields.String:
    """Text that matches a service's pattern as a whole (and is at most `max_len` long); `whole`
    is the validator that says so."""
    rules: list[Any] = [] if max_len is None else [_length(max_len)]
    return fields.String(validate=[*rules, whole(regex, error=message)], **kwargs)


def email_address(**kwargs: Any) -> fields.String:
    """An e-mail address (the services' EMAIL_RE, on one line)."""
    one_line = re.compile(EMAIL_RE.pattern.replace(r"\s", BLANK + CONTROL))
    return patterned(one_line, "Enter a valid email address.", MAX_EMAIL, **kwargs)


def rule_pattern(rule: Rule) -> re.Pattern[str]:
    """A validators.Rule's pattern anchored, as the OpenAPI document states it."""
    return re.compile(f"^(?:{rule.pattern.pattern})$")


def rule_text(rule: Rule, **kwargs: Any) -> fields.String:
    """Text a validators.Rule accepts: its pattern, its length and its message."""
    return patterned(rule_pattern(rule), rule.message, rule.max_len, **kwargs)


def extension_text(**kwargs: Any) -> fields.String:
    return rule_text(EXTENSION, **kwargs)


def prefixed(prefixes: tuple[str, ...], message: str, max_len: int, **kwargs: Any) -> fields.String:
    """Optional one-line text that starts with one of `prefixes` (an address)."""
    starts = "|".join(re.escape(prefix) for prefix in prefixes)
    regex = re.compile(f"^(?:(?:{starts}){LINE_CHAR}*)?$")
    return patterned(regex, message, max_len, allow_none=True, **kwargs)


def password(**kwargs: Any) -> fields.String:
    """A new password (null or "" keeps the current one); never answered."""
    regex = re.compile(f"^(?:[\\s\\S]{{{MIN_PASSWORD},{MAX_PASSWORD}}})?$")
    message = f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters."
    return patterned(
        regex, message, allow_none=True, load_only=True, metadata={"description": message}, **kwargs
    )


def choice(values: Iterable[str], **kwargs: Any) -> fields.String:
    """One of `values`; null or absent leaves the service's default (or the current value)."""
    choices = list(values)
    kwargs.setdefault("allow_none", True)
    error = f"Choose one of: {', '.join(choices)}."
    return fields.String(validate=validate.OneOf(choices, error=error), **kwargs)


def query_choice(values: Iterable[str]) -> fields.String:
    choices = list(values)
    return fields.String(
        load_default="", validate=validate.OneOf(choices, error=f"Choose one of: {', '.join(choices)}.")
    )


def sort_choice(sorts: Iterable[str], default: str) -> fields.String:
    """A list's sort keys (the service's SORTS), each also with '-' for descending."""
    keys = list(sorts)
    return fields.String(
        load_default=None,
        validate=validate.OneOf([*keys, *(f"-{key}" for key in keys)]),
        metadata={"description": f"Sort by {', '.join(keys)}; prefix '-' to reverse. Default: {default}."},
    )


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
    """Search and pagination; each list adds `sort` with its own keys (sort_choice)."""

    q = fields.String(load_default="", metadata={"description": "Search text."})


class DeleteArgs(ma.Schema):
    acknowledge = QueryBool(load_default=False, metadata={"description": "Also remove what depends on it."})


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
