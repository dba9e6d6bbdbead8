"""Login, logout and 'Login as' (with the way back)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user

from control.services import accounts, users
from web.auth import actor, admin_required, impersonator
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
        email = request.form.get("email", "")[:254]
        with write() as s:
            result = accounts.authenticate(s, email, request.form.get("password", ""))
        if result.user is not None:
            session.clear()
            login_user(result.user)
            return redirect(_safe_next(request.args.get("next")))
        error = result.error
    return render_template("auth/login.html", error=error, email=email), (401 if error else 200)


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/users/<int:user_id>/login-as")
@admin_required
def login_as(user_id: int):  # type: ignore[no-untyped-def]
    admin = actor()
    with write() as s:
        target = users.get_user(s, admin.tenant_id, user_id)
        accounts.start_impersonation(s, admin, target)
    original = session.get("impersonator_id") or admin.id
    login_user(target)
    session["impersonator_id"] = original
    flash(f"You are now logged in as {target.name}.", "info")
    return redirect(url_for("dashboard.index"))


@bp.post("/login-as/return")
def return_from_login_as():  # type: ignore[no-untyped-def]
    admin = impersonator()
    if admin is None or admin.suspended:
        return redirect(url_for("dashboard.index"))
    with write() as s:
        accounts.end_impersonation(s, admin, actor())
    session.pop("impersonator_id", None)
    login_user(admin)
    flash("Welcome back.", "info")
    return redirect(url_for("users.index"))
