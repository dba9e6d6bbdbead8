"""The page language (Flask-Babel): the user's choice in Settings, else the browser's
Accept-Language, among the languages the catalog under web/translations translates."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, get_translations
from flask_babel import gettext as _
from flask_login import current_user

from control.services.my_account import PORTAL_LANGUAGES as TRANSLATED

LANGUAGE_NAMES = {"en": "English", "fr": "Français"}

babel = Babel()


def page_language() -> str:
    chosen = getattr(current_user, "language", "") if current_user.is_authenticated else ""
    if chosen in TRANSLATED:
        return chosen
    return request.accept_languages.best_match(TRANSLATED) or "en"


def translated(message: str) -> str:
    """A message made elsewhere (a service's field message, a flash) in the page's language when
    the catalog has it: looked up only, never formatted or marked safe (it may hold user input)."""
    return str(get_translations().gettext(str(message)))


def presence_words() -> dict[str, str]:
    """The presence states as people read them."""
    return {
        "available": _("available"),
        "in_call": _("in call"),
        "unavailable": _("unavailable"),
        "offline": _("offline"),
        "ringing": _("ringing"),
    }


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=page_language, default_translation_directories="translations")
    app.jinja_env.globals.update(page_language=page_language, presence_words=presence_words)
    app.jinja_env.filters["translated"] = translated
