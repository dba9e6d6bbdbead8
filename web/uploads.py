"""Endpoints that take a file: their requests may be larger than the app's usual limit
(MAX_CONTENT_LENGTH), so a file just over its own limit gets the form's or the API's message
naming the field, not a bare 413. The limit is raised before anything reads the body (CSRF)."""

from __future__ import annotations

from flask import request

from control.errors import Invalid
from control.validators import AVATAR_MAX_BYTES

#: endpoint -> the largest request it accepts
UPLOADS: dict[str, int] = {}
AVATAR_REQUEST_LIMIT = 2 * AVATAR_MAX_BYTES


def accepts_upload(endpoint: str, limit: int = AVATAR_REQUEST_LIMIT) -> None:
    UPLOADS[endpoint] = limit


def is_upload() -> bool:
    return request.endpoint in UPLOADS and request.mimetype == "multipart/form-data"


def allow_uploads() -> None:
    """before_request, first: the endpoint's own limit for a multipart request."""
    if is_upload():
        request.max_content_length = UPLOADS[str(request.endpoint)]


def only(*fields: str) -> None:
    """An upload's body holds the named files and nothing else (what the API's document says)."""
    extra = sorted((set(request.form) | set(request.files)) - set(fields))
    if extra:
        raise Invalid({name: ["Not a field of this request."] for name in extra})


def uploaded(field: str) -> bytes | None:
    """The bytes of the file sent in `field`, None when no file was chosen."""
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        return None
    return upload.read()
