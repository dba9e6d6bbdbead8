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


def N_(message: str) -> str:  # noqa: N802 (the gettext convention: marked for the catalog only)
    return message


#: The services' messages the portal's forms and flashes show (through `translated`), marked so
#: the catalog has them; tests/web/test_portal_i18n.py checks that the services still say them.
FORM_MESSAGES = (
    N_("Enter a valid email address."),
    N_("Another user already has this email address."),
    N_("This field is required."),
    N_("Enter a name."),
    N_("A phone number is required."),
    N_("This is not your current password."),
    N_("A password has at least 10 characters."),
    N_("Choose a PNG, JPEG or WebP image."),
    N_("An avatar is at most 2 MB."),
    N_("This image is too large once decoded; choose a smaller one."),
    N_("This file holds more than an image; save it again as a plain PNG, JPEG or WebP."),
    N_("Please log in to continue."),
)


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
