"""A resource of the API: bearer-token auth, JSON-object bodies, JSON errors."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint

from web.api.bearer import authenticate
from web.api.errors import error_response, register_error_handlers
from web.auth import self_authenticating
from web.uploads import is_upload
from web.views.query_args import NUL_MESSAGE, unstorable_argument

API_PREFIX = "/api/v1"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# What no database stores in text: NUL (PostgreSQL refuses it) and half a UTF-16 pair.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NOT_TEXT = "Not valid text: a NUL character or a lone UTF-16 surrogate (like \\ud800 without its pair)."


def query_problem() -> Response | None:
    name = unstorable_argument()
    if name is None:
        return None
    return error_response(422, "The input is not valid.", errors={name: [NUL_MESSAGE]})


def upload(limit: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view that takes a file as multipart/form-data, of at most `limit` bytes in all (the one
    kind of body besides a JSON object). Put it between `route` and `arguments`."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            request.max_content_length = limit
            return view(*args, **kwargs)

        limited.upload_limit = limit  # type: ignore[attr-defined]
        return limited

    return decorate


def body_problem() -> Response | None:
    """A 400 when a body is sent that is not a JSON object, or a PATCH comes without one (the
    schemas then check the fields); an upload endpoint takes multipart/form-data instead."""
    if request.method not in BODY_METHODS:
        return None
    if is_upload():
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "upload_limit", None):
        if request.mimetype != "multipart/form-data":
            return error_response(400, "Send the file as multipart/form-data.")
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
    broken = sorted(set(unstorable_fields(body)))
    if broken:
        return error_response(422, "The input is not valid.", errors={field: [NOT_TEXT] for field in broken})
    return None


def unstorable_fields(value: Any, field: str = "") -> list[str]:
    """The fields (named like the services name them: `members-0-target`) whose text cannot be stored.

    JSON may escape half of a UTF-16 pair on its own (`"\\ud800"`), or a NUL (`"\\u0000"`).
    """
    if isinstance(value, str):
        return [field or "_"] if UNSTORABLE.search(value) else []
    if isinstance(value, dict):
        items = [(str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(str(index), item) for index, item in enumerate(value)]
    else:
        return []
    found = []
    for key, item in items:
        name = UNSTORABLE.sub("\ufffd", key)
        path = f"{field}-{name}" if field else name
        found += [path] if UNSTORABLE.search(key) else unstorable_fields(item, path)
    return found


class ApiBlueprint(Blueprint):
    """/api/v1/<resource>; admin-only unless `admin=False` (then the views scope what they show)."""

    def __init__(
        self, resource: str, import_name: str, *, description: str, admin: bool = True, part: str = ""
    ) -> None:
        """`part` names a second blueprint under the same resource path (e.g. POST /calls for
        agents beside the admins' call history)."""
        name = self_authenticating("api_" + resource.replace("-", "_") + (f"_{part}" if part else ""))
        super().__init__(name, import_name, url_prefix=f"{API_PREFIX}/{resource}", description=description)
        self.admin = admin
        self.before_request(self._guard)
        register_error_handlers(self)

    def _guard(self) -> Response | None:
        return authenticate(admin=self.admin) or query_problem() or body_problem()
