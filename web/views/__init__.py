"""Admin and portal pages: one blueprint per area.

Every module here that defines `bp` is registered; those that set `ADMIN_AREA = True`
are admin-only (an agent gets 403 on every route of theirs).
"""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask

from web.auth import admin_blueprint
from web.views.query_args import IdConverter, refuse_unstorable_arguments


def register_views(app: Flask) -> None:
    # `<int:...>` in a page's route is an id: past the database's range it is a 404, not an overflow.
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_unstorable_arguments)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        blueprint = getattr(module, "bp", None)
        if blueprint is None:
            continue
        if getattr(module, "ADMIN_AREA", False):
            admin_blueprint(blueprint.name)
        app.register_blueprint(blueprint)
