"""Who is logged in, and what they may see.

A login session names its user as "<id>:<session version>" (Flask-Login's get_id): every request
checks that the version is still the user's, so moving it on (logout, a password change,
suspension, "log out everywhere") ends every session made before, wherever its cookie is kept.
While an admin uses 'Login as', the admin's own "<id>:<version>" stays in the session and is
checked the same way.

Every endpoint needs a login unless it is listed in PUBLIC_ENDPOINTS; the API and the
xml_curl endpoint authenticate each request themselves. Admin areas are blueprints
registered in ADMIN_BLUEPRINTS: an agent gets 403 there.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Flask, abort, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from control.models import User
from web.db import db

PUBLIC_ENDPOINTS = {"auth.login", "static", "health.health"}
SELF_AUTHENTICATING_BLUEPRINTS: set[str] = set()
ADMIN_BLUEPRINTS: set[str] = set()

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."


def session_id(user: User) -> str:
    return f"{user.id}:{user.session_version}"


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The user a session names, if that session has not been ended since."""
    user_id, _, version = token.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db().get(User, int(user_id))
    if user is None or user.suspended or user.session_version != int(version):
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
    """The admin behind a 'Login as' session, while that admin's own session is still valid."""
    token = session.get("impersonator")
    return load_user(token) if isinstance(token, str) else None


def start_impersonating(target: User) -> None:
    """Log in as `target`, keeping the way back to the admin who is logged in now."""
    original = session.get("impersonator") or session_id(actor())
    login_user(target)
    session["impersonator"] = original


def stop_impersonating(admin: User) -> None:
    session.pop("impersonator", None)
    login_user(admin)


def end_session() -> None:
    logout_user()
    session.clear()


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
        if "impersonator" in session and impersonator() is None:
            end_session()  # the admin behind this 'Login as' has logged out since
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
User.get_id = session_id  # type: ignore[attr-defined]
