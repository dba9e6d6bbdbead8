"""The agent portal's settings: avatar, email, language, password, caller ID, browser notifications
and personal API tokens."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_user
from werkzeug.wrappers import Response

from control.errors import Invalid
from control.services import accounts, avatars, my_account, users
from web.auth import actor
from web.db import db, write
from web.forms import checkbox
from web.i18n import LANGUAGE_NAMES
from web.uploads import accepts_upload, uploaded

bp = Blueprint("portal_settings", __name__, url_prefix="/portal/settings")


def _page(
    errors: dict[str, list[str]] | None = None, *, new_token: str | None = None, email: str | None = None
):  # type: ignore[no-untyped-def]
    me = actor()
    page = render_template(
        "portal/settings.html",
        me=me,
        email=me.email if email is None else email,
        errors=errors or {},
        tokens=my_account.tokens(db(), me),
        new_token=new_token,
        caller_ids=[(number.id, number.e164) for number in my_account.caller_ids(db(), me)],
        languages=[(code, LANGUAGE_NAMES[code]) for code in my_account.PORTAL_LANGUAGES],
        min_password=users.MIN_PASSWORD,
        max_password=users.MAX_PASSWORD,
    )
    return page, 400 if errors else 200


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return _page()


@bp.post("/avatar")
def avatar():  # type: ignore[no-untyped-def]
    try:
        with write() as s:
            avatars.set_user_avatar(s, actor(), uploaded("avatar") or b"")
    except Invalid as exc:
        return _page(exc.errors)
    flash(_("Avatar saved."), "success")
    return redirect(url_for("portal_settings.index"))


@bp.post("/avatar/remove")
def remove_avatar() -> Response:
    with write() as s:
        avatars.remove_user_avatar(s, actor())
    flash(_("Avatar removed."), "success")
    return redirect(url_for("portal_settings.index"))


@bp.post("/language")
def language():  # type: ignore[no-untyped-def]
    try:
        with write() as s:
            my_account.set_language(s, actor(), {"language": request.form.get("language", "")})
    except Invalid as exc:
        return _page(exc.errors)
    flash(_("Language saved."), "success")  # in the new language: the flash is shown by the next page
    return redirect(url_for("portal_settings.index"))


@bp.post("/email")
def email():  # type: ignore[no-untyped-def]
    try:
        with write() as s:
            my_account.change_email(s, actor(), {"email": request.form.get("email", "")})
    except Invalid as exc:
        return _page(exc.errors, email=request.form.get("email", ""))
    flash(_("Email saved."), "success")
    return redirect(url_for("portal_settings.index"))


@bp.post("/password")
def password():  # type: ignore[no-untyped-def]
    try:
        with write() as s:
            accounts.change_own_password(
                s, actor(), request.form.get("current_password", ""), request.form.get("password", "")
            )
    except Invalid as exc:
        return _page(exc.errors)
    login_user(actor())  # this session goes on with the new version; the others have ended
    flash(_("Password changed; your other sessions have ended."), "success")
    return redirect(url_for("portal_settings.index"))


@bp.post("/notifications")
def notifications() -> Response | str:
    on = checkbox(request.form, "notifications")
    with write() as s:
        my_account.set_notifications(s, actor(), on)
    if request.headers.get("HX-Request"):
        return ""
    flash(_("Call notifications on.") if on else _("Call notifications off."), "success")
    return redirect(url_for("portal_settings.index"))


@bp.post("/caller-id")
def caller_id():  # type: ignore[no-untyped-def]
    raw = request.form.get("caller_id_number_id", "")
    try:
        with write() as s:
            my_account.choose_caller_id(s, actor(), raw or None)
    except Invalid as exc:
        return _page(exc.errors)
    flash(_("Caller ID saved: your next outbound calls show it."), "success")
    return redirect(url_for("portal_settings.index"))


@bp.post("/tokens")
def create_token():  # type: ignore[no-untyped-def]
    try:
        with write() as s:
            token = my_account.create_token(s, actor(), {"name": request.form.get("name", "")})
    except Invalid as exc:
        return _page(exc.errors)
    # Shown once, on this response only (never flashed into the session).
    return _page(new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Response:
    with write() as s:
        my_account.revoke_token(s, actor(), token_id)
    flash(_("Token revoked: it no longer works."), "success")
    return redirect(url_for("portal_settings.index"))


accepts_upload("portal_settings.avatar")
