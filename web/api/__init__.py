"""The JSON API under /api/v1: one module per resource, each defining `bp` (an ApiBlueprint).

Every module here with a `bp` is registered; the OpenAPI 3 document at /api/v1/openapi.json
is generated from their marshmallow schemas and needs a token like every other API route.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import partial
from typing import Any

import marshmallow as ma
from flask import Flask, Response, request
from flask_smorest import Api
from werkzeug.routing import RequestRedirect

from web.api.bearer import SCHEME, authenticate
from web.api.blueprint import API_PREFIX, ApiBlueprint
from web.api.errors import ErrorSchema, http_error
from web.api.schemas import IdOrText
from web.auth import self_authenticating
from web.views.query_args import IdConverter

SPEC_PATH = "openapi.json"


class SwitchboardApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """Not app-wide: flask-smorest would answer the HTML pages' errors in JSON too.

        Each ApiBlueprint registers its own JSON handlers instead.
        """


def resource_blueprints() -> list[ApiBlueprint]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        blueprint = getattr(module, "bp", None)
        if isinstance(blueprint, ApiBlueprint):
            found.append(blueprint)
    return found


def register_api(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "Switchboard")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", SPEC_PATH)
    app.url_map.converters["id"] = IdConverter
    api = SwitchboardApi(app, spec_kwargs={"security": [{SCHEME: []}]})
    api.spec.components.security_scheme(
        SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `switchboard create-token <email>`.",
        },
    )
    api.ma_plugin.converter.add_attribute_function(_id_or_text)
    csrf = app.extensions["csrf"]
    for blueprint in resource_blueprints():
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)
    _guard_spec(app)
    app.before_request(_api_routing_error)
    return api


def _id_or_text(converter: Any, field: ma.fields.Field, ret: dict, **kwargs: Any) -> dict:
    """A target is sent as text or as a number (an id): the document says both."""
    if not isinstance(field, IdOrText):
        return {}
    ret.pop("type", None)
    return {"anyOf": [{"type": "string"}, {"type": "integer"}]}


def _guard_spec(app: Flask) -> None:
    """The document is served by flask-smorest's own blueprint: it needs a token too."""
    endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == f"{API_PREFIX}/{SPEC_PATH}")
    docs = endpoint.rpartition(".")[0]
    self_authenticating(docs)
    app.before_request_funcs.setdefault(docs, []).append(partial(authenticate, admin=False))


def _api_routing_error() -> Response | None:
    """Unknown paths and wrong methods under /api/v1 answer in JSON (after the token check)."""
    exc = request.routing_exception
    if exc is None or isinstance(exc, RequestRedirect):
        return None
    if request.path != API_PREFIX and not request.path.startswith(f"{API_PREFIX}/"):
        return None
    return authenticate(admin=False) or http_error(exc)  # type: ignore[arg-type]
