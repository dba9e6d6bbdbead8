"""A resource of the API: bearer-token auth, JSON-object bodies, JSON errors."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from werkzeug.routing import IntegerConverter

from web.api.bearer import authenticate
from web.api.errors import error_response, register_error_handlers
from web.api.schemas import MAX_ID
from web.auth import self_authenticating

API_PREFIX = "/api/v1"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_TEXT = "Not valid text: it holds a lone UTF-16 surrogate (an escape like \\ud800 without its pair)."


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: 1 to 2**31-1, so a longer number is a 404, not a database error."""

    def __init__(self, url_map, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(url_map, min=1, max=MAX_ID)


def body_problem() -> Response | None:
    """A 400 when a body is sent that is not a JSON object, or a PATCH comes without one (the
    schemas then check the fields)."""
    if request.method not in BODY_METHODS:
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        if request.method == "PATCH":
            return error_response(400, "Send the fields to change as a JSON object.")
        return None
    if not request.is_json:
        return error_response(400, "Send the body as JSON, with Content-Type: application/json.")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return error_response(400, f"The body is not valid JSON: {exc}.")
    if not isinstance(body, dict):
        return error_response(400, "The body must be a JSON object.")
    broken = sorted(set(lone_surrogates(body)))
    if broken:
        return error_response(422, "The input is not valid.", errors={field: [NOT_TEXT] for field in broken})
    return None


def lone_surrogates(value: Any, field: str = "") -> list[str]:
    """The fields (named like the services name them: `members-0-target`) whose text cannot be stored.

    JSON may escape half of a UTF-16 pair on its own (`"\\ud800"`); no database can store that.
    """
    if isinstance(value, str):
        return [field or "_"] if LONE_SURROGATE.search(value) else []
    if isinstance(value, dict):
        items = [(str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(str(index), item) for index, item in enumerate(value)]
    else:
        return []
    found = []
    for key, item in items:
        name = LONE_SURROGATE.sub("\ufffd", key)
        path = f"{field}-{name}" if field else name
        found += [path] if LONE_SURROGATE.search(key) else lone_surrogates(item, path)
    return found


class ApiBlueprint(Blueprint):
    """/api/v1/<resource>; admin-only unless `admin=False` (then the views scope what they show)."""

    def __init__(self, resource: str, import_name: str, *, description: str, admin: bool = True) -> None:
        name = self_authenticating("api_" + resource.replace("-", "_"))
        super().__init__(name, import_name, url_prefix=f"{API_PREFIX}/{resource}", description=description)
        self.admin = admin
        self.before_request(self._guard)
        register_error_handlers(self)

    def _guard(self) -> Response | None:
        return authenticate(admin=self.admin) or body_problem()
