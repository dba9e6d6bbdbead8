"""Tags: names and colours for contacts and broadcast audiences."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Invalid
from control.models import Tag
from control.services import tags
from web.auth import actor
from web.db import db, write
from web.forms import form_data
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("tags", __name__, url_prefix="/tags")


@bp.get("/")
def index() -> str:
    page = tags.list_tags(
        db(),
        actor().tenant_id,
        q=request.args.get("q", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template("tags/index.html", page=page)


def _form(tag: Tag | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    return render_template("tags/form.html", tag=tag, data=data, errors=errors), 400 if errors else 200


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"color": "#6b7280"}, {})
    data = form_data(request.form)
    try:
        with write() as s:
            tag = tags.create_tag(s, actor().tenant_id, data, actor())
            name = tag.name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Tag {name} created.", "success")
    return redirect(url_for("tags.index"))


@bp.route("/<int:tag_id>", methods=["GET", "POST"])
def edit(tag_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    tag = tags.get_tag(db(), me.tenant_id, tag_id)
    if request.method == "GET":
        return _form(tag, {"name": tag.name, "color": tag.color}, {})
    data = form_data(request.form)
    try:
        with write() as s:
            tags.update_tag(s, me.tenant_id, tag_id, data, me)
    except Invalid as exc:
        return _form(tags.get_tag(db(), me.tenant_id, tag_id), data, exc.errors)
    flash("Tag saved.", "success")
    return redirect(url_for("tags.index"))


@bp.post("/<int:tag_id>/delete")
def delete(tag_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        name = tags.get_tag(s, me.tenant_id, tag_id).name
        tags.delete_tag(s, me.tenant_id, tag_id, me)
    flash(f"Tag {name} deleted.", "success")
    return redirect(url_for("tags.index"))
