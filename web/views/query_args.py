"""Integer arguments of the pages' query strings and forms: bounded, or a 400 that names them.

A number past the database's range must never reach a query (it raises OverflowError there), and a
value that is not a number is refused rather than silently replaced by the default.
"""

from __future__ import annotations

from flask import request
from werkzeug.routing import IntegerConverter

from control.errors import Invalid
from control.services.listing import MAX_PAGE
from control.validators import MAX_ROW_ID, row_id

NUL_MESSAGE = "A NUL character is not allowed here."


class IdConverter(IntegerConverter):
    """`<int:name>` (pages) and `<id:name>` (API) in a route: 1 to MAX_ROW_ID, so a longer number is a
    404, not a database error."""

    def __init__(self, url_map, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(url_map, min=1, max=MAX_ROW_ID)


def unstorable_argument() -> str | None:
    """The first query argument holding a NUL (PostgreSQL cannot compare that with text), if any."""
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\ufffd")
    return None


def refuse_unstorable_arguments() -> None:
    """Before every page (the API checks after its token): such an argument is a 400 naming it."""
    name = unstorable_argument()
    if name is not None and not request.path.startswith("/api/"):
        raise Invalid(NUL_MESSAGE, name)


def bounded_int(name: str, raw: str | None, default: int | None, hi: int) -> int | None:
    """`raw` as a whole number from 1 to `hi`; absent or empty gives `default`."""
    text = (raw or "").strip()
    if not text:
        return default
    if text.isascii() and text.isdigit() and len(text) <= len(str(hi)) and 1 <= int(text) <= hi:
        return int(text)
    raise Invalid(f"Enter a whole number from 1 to {hi}.", name)


def id_arg(name: str) -> int | None:
    """The id of one of the tenant's objects from the query string (e.g. a filter), or None."""
    return bounded_int(name, request.args.get(name), None, MAX_ROW_ID)


def page_arg() -> int:
    page = bounded_int("page", request.args.get("page"), 1, MAX_PAGE)
    assert page is not None
    return page


def form_ids(values: list[str] | None) -> list[int]:
    """The valid ids among a multi-select's values (others cannot have been offered)."""
    return [value for value in (row_id(raw) for raw in values or []) if value is not None]
