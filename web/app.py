"""The application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from control import automation_jobs, command_channel, jobs, live
from control.config import settings
from control.errors import Conflict, Forbidden, Invalid, NotFound
from web import auth, compression, db, i18n, uploads
from web.api import register_api
from web.icons import icon
from web.views import register_views
from web.views import xml_curl as xml_curl_view

csrf = CSRFProtect()
HSTS = "max-age=31536000; includeSubDomains"


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (or HTTPS is configured)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    config = settings()
    app.config.update(
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=config.https,
        PREFERRED_URL_SCHEME="https" if config.https else "http",
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.config.update(overrides or {})
    _serve_https(app, config.trusted_proxies)
    app.before_request(uploads.allow_uploads)  # before CSRF reads the form
    db.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    csrf.init_app(app)
    register_views(app)
    csrf.exempt(xml_curl_view.bp)  # mod_xml_curl authenticates with HTTP basic auth, not a session
    register_api(app)
    _register_errors(app)
    compression.init_app(app)
    live.register_publish_handlers()
    command_channel.register_command_handlers()
    jobs.register_apply_handlers()
    automation_jobs.register_automation_handlers()
    app.config["NAV_ENDPOINTS"] = frozenset(app.view_functions)
    app.jinja_env.globals["icon"] = icon

    @app.context_processor
    def layout_context() -> dict[str, Any]:
        return {"impersonator": auth.impersonator}

    return app


def _serve_https(app: Flask, trusted_proxies: int) -> None:
    """Behind `trusted_proxies` reverse proxies, believe their X-Forwarded-For/-Proto/-Host/-Port
    (the client's address, and whether it used HTTPS); over HTTPS, send HSTS."""
    if trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=trusted_proxies,
            x_proto=trusted_proxies,
            x_host=trusted_proxies,
            x_port=trusted_proxies,
        )
    app.session_interface = _SessionInterface()

    @app.after_request
    def strict_transport_security(response: Response) -> Response:
        if request.is_secure or app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def _register_errors(app: Flask) -> None:
    def page(code: int, title: str, message: str, details: list[str] | None = None) -> tuple[str, int]:
        return (
            render_template(
                "errors/error.html", code=code, title=title, message=message, details=details or []
            ),
            code,
        )

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound) -> tuple[str, int]:
        return page(404, "Not found", str(exc))

    @app.errorhandler(Forbidden)
    def forbidden(exc: Forbidden) -> tuple[str, int]:
        return page(403, "Not allowed", str(exc))

    @app.errorhandler(Conflict)
    def conflict(exc: Conflict) -> tuple[str, int]:
        return page(409, "Cannot do that", str(exc), exc.details)

    @app.errorhandler(Invalid)
    def invalid(exc: Invalid) -> tuple[str, int]:
        return page(400, "Invalid request", str(exc))

    for code, title in ((403, "Not allowed"), (404, "Not found"), (405, "Method not allowed")):
        app.register_error_handler(code, lambda _e, c=code, t=title: page(c, t, ""))
