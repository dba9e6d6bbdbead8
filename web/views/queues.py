"""Queues: strategy, timers, fallback, and each member's presence (Active) in the queue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Conflict, Invalid
from control.models import DESTINATION_KINDS, Queue
from control.models.queues import QUEUE_STRATEGIES
from control.services import destinations, queues, users
from web.auth import actor
from web.db import db, write
from web.forms import checkbox, form_data
from web.views.query_args import page_arg
from web.views.ring_groups import DESTINATION_LABELS, destination_options

ADMIN_AREA = True
bp = Blueprint("queues", __name__, url_prefix="/queues")

STRATEGY_LABELS = {
    "ring_all": "Ring all available agents",
    "longest_idle": "Longest idle agent",
    "round_robin": "Round robin",
    "fewest_calls": "Fewest calls",
    "random": "Random",
    "linear": "In the order listed",
}
_TRUE = ("on", "1", "true", "yes")


@bp.get("/")
def index() -> str:
    me = actor()
    page = queues.list_queues(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        strategy=request.args.get("strategy", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template(
        "queues/index.html",
        page=page,
        strategies=STRATEGY_LABELS,
        fallbacks={queue.id: destinations.describe(db(), queue, "fallback") for queue in page.items},
    )


def _submitted() -> dict[str, Any]:
    data = form_data(request.form, "members")
    # Unchecked boxes are not submitted: an absent "active" means the agent is not active.
    # A row whose user was never chosen is an empty added row: drop it.
    data["members"] = [
        dict(row, active=str(row.get("active") or "") in _TRUE)
        for row in data["members"]
        if str(row.get("user_id") or "").strip()
    ]
    data.setdefault("fallback_target", "")
    data.pop("refresh", None)
    return data


def _form(
    queue: Queue | None,
    data: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    status: int | None = None,
    conflict: Conflict | None = None,
) -> tuple[str, int]:
    me = actor()
    everyone = users.all_users(db(), me.tenant_id)
    saved = {m.user_id for m in queue.members} if queue else set()
    page = render_template(
        "queues/form.html",
        queue=queue,
        data=data,
        errors=errors,
        conflict=conflict,
        saved=saved,
        names={u.id: f"{u.name} ({u.extension})" if u.extension else u.name for u in everyone},
        user_options=[(u.id, f"{u.name} ({u.extension})") for u in everyone if u.extension],
        strategy_options=[(s, STRATEGY_LABELS[s]) for s in QUEUE_STRATEGIES],
        destination_kinds=[(k, DESTINATION_LABELS[k]) for k in DESTINATION_KINDS],
        destination_options=destination_options(me.tenant_id),
    )
    return page, status or (400 if errors else 200)


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        defaults = {"strategy": "longest_idle", "wrap_up_time": 10, "max_wait": 300, "ring_timeout": 15}
        return _form(None, defaults | {"members": []}, {})
    me = actor()
    data = _submitted()
    if "refresh" in request.form:
        return _form(None, data, {})
    try:
        with write() as s:
            queue = queues.create_queue(s, me.tenant_id, data, me)
            name = queue.name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Queue {name} created.", "success")
    return redirect(url_for("queues.index"))


def _stored(queue: Queue) -> dict[str, Any]:
    return {
        "name": queue.name,
        "extension": queue.extension,
        "strategy": queue.strategy,
        "wrap_up_time": queue.wrap_up_time,
        "max_wait": queue.max_wait,
        "ring_timeout": queue.ring_timeout,
        "fallback_kind": queue.fallback_kind or "",
        "fallback_target": destinations.target_of(queue, "fallback"),
        "members": queues.member_data(queue),
    }


@bp.route("/<int:queue_id>", methods=["GET", "POST"])
def edit(queue_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    queue = queues.get_queue(db(), me.tenant_id, queue_id)
    if request.method == "GET":
        return _form(queue, _stored(queue), {})
    data = _submitted()
    if "refresh" in request.form:
        return _form(queue, data, {})
    try:
        with write() as s:
            queues.update_queue(s, me.tenant_id, queue_id, data, me)
    except Invalid as exc:
        return _form(queues.get_queue(db(), me.tenant_id, queue_id), data, exc.errors)
    flash("Queue saved.", "success")
    return redirect(url_for("queues.index"))


@bp.post("/<int:queue_id>/members/<int:user_id>/active")
def set_active(queue_id: int, user_id: int):  # type: ignore[no-untyped-def]
    """Switch one agent's presence in this queue on or off (in place with htmx)."""
    me = actor()
    active = checkbox(request.form, "active")
    with write() as s:
        queues.set_membership_active(s, me.tenant_id, queue_id, user_id, active, me)
    if request.headers.get("HX-Request"):
        return render_template("queues/_active.html", active=active)
    name = users.get_user(db(), me.tenant_id, user_id).name
    flash(f"{name} is {'now active' if active else 'no longer active'} in this queue.", "success")
    return redirect(url_for("queues.edit", queue_id=queue_id))


@bp.post("/<int:queue_id>/delete")
def delete(queue_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    name = queues.get_queue(db(), me.tenant_id, queue_id).name
    try:
        with write() as s:
            queues.delete_queue(s, me.tenant_id, queue_id, me)
    except Conflict as exc:
        queue = queues.get_queue(db(), me.tenant_id, queue_id)
        return _form(queue, _stored(queue), {}, status=409, conflict=exc)
    flash(f"Queue {name} deleted.", "success")
    return redirect(url_for("queues.index"))
