"""Login, logout, the user's own account, 'log out everywhere' and 'Login as' (with the way back)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_user

from control.errors import Invalid
from control.services import accounts, users
from web.auth import (
    actor,
    admin_required,
    end_session,
    impersonator,
    start_impersonating,
    stop_impersonating,
)
from web.db import write

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    error = None
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "")[: accounts.MAX_EMAIL_LENGTH]
        # Two commits: the attempt is counted (and visible to parallel attempts) before the slow
        # password check starts.
        with write() as s:
            attempt = accounts.count_login_attempt(s, email, request.remote_addr or "")
        with write() as s:
            result = accounts.authenticate(s, attempt, request.form.get("password", ""))
        if result.user is not None:
            session.clear()
            login_user(result.user)
            return redirect(_safe_next(request.args.get("next")))
        error = result.error
    return render_template("auth/login.html", error=error, email=email), (401 if error else 200)


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    person = impersonator() or actor()  # while 'Login as' is on, the admin is the one leaving
    with write() as s:
        accounts.log_out(s, person)
    end_session()
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
def account():  # type: ignore[no-untyped-def]
    """The user's own account: change the password (other sessions end), log out everywhere."""
    me = actor()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            with write() as s:
                accounts.change_own_password(
                    s, me, request.form.get("current_password", ""), request.form.get("password", "")
                )
        except Invalid as exc:
            errors = exc.errors
        else:
            login_user(me)  # this session goes on with the new version; the others have ended
            flash("Password changed; your other sessions have ended.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", user=me, errors=errors), (400 if errors else 200)


@bp.post("/account/logout-everywhere")
def logout_everywhere():  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        accounts.log_out_everywhere(s, me.tenant_id, me.id, me)
    end_session()
    flash("You are logged out everywhere.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/users/<int:user_id>/logout-everywhere")
@admin_required
def logout_user_everywhere(user_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        name = accounts.log_out_everywhere(s, me.tenant_id, user_id, me).name
    if user_id == me.id:
        end_session()
        return redirect(url_for("auth.login"))
    flash(f"{name} is logged out everywhere.", "success")
    return redirect(url_for("users.edit", user_id=user_id))


@bp.post("/users/<int:user_id>/login-as")
@admin_required
def login_as(user_id: int):  # type: ignore[no-untyped-def]
    admin = actor()
    with write() as s:
        target = users.get_user(s, admin.tenant_id, user_id)
        accounts.start_impersonation(s, admin, target)
    start_impersonating(target)
    flash(f"You are now logged in as {target.name}.", "info")
    return redirect(url_for("dashboard.index"))


@bp.post("/login-as/return")
def return_from_login_as():  # type: ignore[no-untyped-def]
    admin = impersonator()
    if admin is None:
        return redirect(url_for("dashboard.index"))
    with write() as s:
        accounts.end_impersonation(s, admin, actor())
    stop_impersonating(admin)
    flash("Welcome back.", "info")
    return redirect(url_for("users.index"))
