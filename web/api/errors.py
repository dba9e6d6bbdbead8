"""JSON error answers: service errors and HTTP errors of the API, never an HTML page.

Field names follow the services (and so the forms): a nested schema error on
`members[0].kind` is reported as `members-0-kind`, like a service's own message.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, jsonify
from werkzeug.exceptions import HTTPException, default_exceptions

from control.errors import Conflict, Forbidden, Invalid, NotFound

LOCATIONS = frozenset({"json", "query", "querystring", "view_args", "headers", "cookies", "form", "files"})


class ErrorSchema(ma.Schema):
    """The body of every error answer."""

    code = ma.fields.Integer(metadata={"description": "The HTTP status code."})
    status = ma.fields.String(metadata={"description": "The HTTP status name."})
    message = ma.fields.String(metadata={"description": "What went wrong, for a person."})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Messages per field (422); the same messages the forms show."},
    )
    details = ma.fields.List(
        ma.fields.String(), metadata={"description": "What blocks the request (409), e.g. dependencies."}
    )


def error_response(
    code: int,
    message: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    details: list[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code, "status": HTTPStatus(code).phrase, "message": message}
    if errors:
        body["errors"] = dict(errors)
    if details:
        body["details"] = list(details)
    response = jsonify(body)
    response.status_code = code
    response.headers.update(headers or {})
    return response


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Nested marshmallow messages as {field: [messages]} with service-style field names."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = prefix if key == "_schema" else f"{prefix}-{key}" if prefix else str(key)
            for field, texts in flatten(value, name).items():
                flat.setdefault(field, []).extend(texts)
        return flat
    texts = messages if isinstance(messages, list) else [messages]
    return {prefix or "_": [str(text) for text in texts]}


def schema_errors(exc: HTTPException) -> dict[str, list[str]]:
    """The field messages webargs attached to a 422 (grouped by location: json, query...)."""
    data = getattr(exc, "data", None) or {}
    messages = data.get("errors") or data.get("messages") or {}
    if isinstance(messages, Mapping) and messages and set(messages) <= LOCATIONS:
        merged: dict[str, list[str]] = {}
        for location_messages in messages.values():
            for field, texts in flatten(location_messages).items():
                merged.setdefault(field, []).extend(texts)
        return merged
    return flatten(messages) if messages else {}


def http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    errors = schema_errors(exc)
    message = "The input is not valid." if errors else (exc.description or HTTPStatus(code).phrase)
    valid_methods = getattr(exc, "valid_methods", None)
    headers = {"Allow": ", ".join(valid_methods)} if code == 405 and valid_methods else None
    return error_response(code, message, errors=errors, headers=headers)


def register_error_handlers(blueprint: Blueprint) -> None:
    """JSON for everything a resource can fail with (blueprint handlers win over the HTML pages)."""

    @blueprint.errorhandler(Invalid)
    def invalid(exc: Invalid) -> Response:
        return error_response(422, str(exc), errors=exc.errors)

    @blueprint.errorhandler(NotFound)
    def not_found(exc: NotFound) -> Response:
        return error_response(404, str(exc))

    @blueprint.errorhandler(Conflict)
    def conflict(exc: Conflict) -> Response:
        return error_response(409, str(exc), details=exc.details)

    @blueprint.errorhandler(Forbidden)
    def forbidden(exc: Forbidden) -> Response:
        return error_response(403, str(exc))

    # By code, not by class: the app's HTML pages are registered by code and would win otherwise.
    for code in default_exceptions:
        blueprint.register_error_handler(code, http_error)
