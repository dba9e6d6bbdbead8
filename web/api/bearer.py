"""Bearer-token authentication: every API request names its user with `Authorization: Bearer <token>`."""

from __future__ import annotations

from flask import Response, g, request

from control.models import User
from control.services import accounts
from web.api.errors import error_response
from web.db import db, write

SCHEME = "bearerAuth"
REALM = 'Bearer realm="switchboard"'
MAX_TOKEN_LENGTH = 256


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def authenticate(*, admin: bool) -> Response | None:
    """Before an API request: its user in g.api_user, or the 401/403 answer to send instead."""
    token = bearer_token()
    if token is None:
        return error_response(
            401,
            "Send an API token: Authorization: Bearer <token> (switchboard create-token <email>).",
            headers={"WWW-Authenticate": REALM},
        )
    user = None
    if len(token) <= MAX_TOKEN_LENGTH:
        session = db()
        user = accounts.user_for_token(session, token)
        if session.dirty:  # the token's last-used time, every few minutes: commit it now
            with write():
                pass
    if user is None:
        return error_response(
            401,
            "This API token is not valid: unknown, revoked, or its user is suspended.",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
    if admin and user.role != "admin":
        return error_response(403, "Only admins may use this resource.")
    g.api_user = user
    g.tenant_id = user.tenant_id
    return None


def api_user() -> User:
    """The user whose token authenticated this request."""
    user: User = g.api_user
    return user
