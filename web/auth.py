"""Who is logged in, and what they may see.

Every endpoint needs a login unless it is listed in PUBLIC_ENDPOINTS; the API and the
xml_curl endpoint authenticate each request themselves. Admin areas are blueprints
registered in ADMIN_BLUEPRINTS: an agent gets 403 there.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Flask, abort, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user

from control.models import User
from web.db import db

PUBLIC_ENDPOINTS = {"auth.login", "static", "health.health"}
SELF_AUTHENTICATING_BLUEPRINTS: set[str] = set()
ADMIN_BLUEPRINTS: set[str] = set()

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db().get(User, int(user_id))
    if user is None or user.suspended:
        return None
    return user


def admin_blueprint(name: str) -> str:
    ADMIN_BLUEPRINTS.add(name)
    return name


def self_authenticating(name: str) -> str:
    SELF_AUTHENTICATING_BLUEPRINTS.add(name)
    return name


def actor() -> User:
    """The logged-in user (the impersonated one while an admin uses 'Login as')."""
    return current_user._get_current_object()  # type: ignore[no-any-return]


def impersonator() -> User | None:
    admin_id = session.get("impersonator_id")
    return db().get(User, admin_id) if admin_id else None


def admin_required(view: Any) -> Any:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.role != "admin":
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def init_app(app: Flask) -> None:
    login_manager.init_app(app)

    @app.before_request
    def require_login() -> Any:
        endpoint = request.endpoint or ""
        blueprint = request.blueprint or ""
        if endpoint in PUBLIC_ENDPOINTS or blueprint in SELF_AUTHENTICATING_BLUEPRINTS:
            return None
        if request.endpoint is None:
            return None  # 404 for unknown URLs, after this hook
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if blueprint in ADMIN_BLUEPRINTS and current_user.role != "admin":
            abort(403)
        g.tenant_id = current_user.tenant_id
        return None


# Flask-Login's UserMixin is not on the ORM model (control imports no Flask): add what it needs.
User.is_authenticated = property(lambda self: True)  # type: ignore[attr-defined]
User.is_active = property(lambda self: not self.suspended)  # type: ignore[attr-defined]
User.is_anonymous = property(lambda self: False)  # type: ignore[attr-defined]
User.get_id = lambda self: str(self.id)  # type: ignore[attr-defined]
