"""Ring groups: ordered members with their own ring timeouts, a strategy and a fallback."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from control.errors import Conflict, Invalid
from control.models import DESTINATION_KINDS, RingGroup
from control.models.ring_groups import MEMBER_KINDS, RING_STRATEGIES
from control.services import destinations, numbers, queues, ring_groups, users
from web.auth import actor
from web.db import db, write
from web.forms import form_data
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("ring_groups", __name__, url_prefix="/ring-groups")

STRATEGY_LABELS = {
    "parallel": "Parallel: ring every member at once",
    "sequential": "Sequential: ring members in order",
}
MEMBER_KIND_LABELS = {
    "user": "User",
    "extension": "Extension",
    "external": "External number",
    "sip_uri": "SIP URI",
    "ring_group": "Ring group",
    "did": "DID",
}
DESTINATION_LABELS = {
    "user": "A user",
    "ring_group": "A ring group",
    "queue": "A queue",
    "extension": "An extension",
    "external": "An external number",
    "hangup": "Hang up",
}
# Positions typed into the "Order" field; an empty one puts the member last.
_LAST = 10_000


@bp.get("/")
def index() -> str:
    me = actor()
    page = ring_groups.list_ring_groups(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        strategy=request.args.get("strategy", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    return render_template(
        "ring_groups/index.html",
        page=page,
        strategies=STRATEGY_LABELS,
        fallbacks={group.id: destinations.describe(db(), group, "fallback") for group in page.items},
    )


def destination_options(tenant_id: int) -> dict[str, list[tuple[int, str]]]:
    """Choices for the destination kinds that point at a row (user, ring group, queue)."""
    return {
        "user": [
            (u.id, f"{u.name} ({u.extension})" if u.extension else u.name)
            for u in users.all_users(db(), tenant_id)
        ],
        "ring_group": [
            (g.id, f"{g.name} ({g.extension})") for g in ring_groups.all_ring_groups(db(), tenant_id)
        ],
        "queue": [(q.id, f"{q.name} ({q.extension})") for q in queues.all_queues(db(), tenant_id)],
    }


def _member_options(tenant_id: int, own_id: int | None) -> dict[str, list[tuple[int, str]]]:
    return {
        "user": [
            (u.id, f"{u.name} ({u.extension})") for u in users.all_users(db(), tenant_id) if u.extension
        ],
        "ring_group": [
            (g.id, f"{g.name} ({g.extension})")
            for g in ring_groups.all_ring_groups(db(), tenant_id)
            if g.id != own_id
        ],
        "did": [(n.id, n.e164) for n in numbers.unreleased_numbers(db(), tenant_id)],
    }


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by their typed position (ties keep the page order), renumbered 1..n."""

    def key(item: tuple[int, dict[str, Any]]) -> tuple[int, int]:
        index, row = item
        position = str(row.get("position") or "").strip()
        return (int(position) if position.isdigit() and len(position) < 5 else _LAST, index)

    ordered = [dict(row) for _, row in sorted(enumerate(rows), key=key)]
    for number, row in enumerate(ordered, start=1):
        row["position"] = number
    return ordered


def _submitted() -> dict[str, Any]:
    """The posted form; on edit the extension field is disabled, and the service refuses a changed one."""
    data = form_data(request.form, "members")
    data["members"] = _ordered(data["members"])
    data.setdefault("fallback_target", "")
    data.pop("refresh", None)
    return data


def _form(
    group: RingGroup | None,
    data: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    status: int | None = None,
    conflict: Conflict | None = None,
) -> tuple[str, int]:
    me = actor()
    page = render_template(
        "ring_groups/form.html",
        group=group,
        data=data,
        errors=errors,
        conflict=conflict,
        strategies=STRATEGY_LABELS,
        member_kinds=[(k, MEMBER_KIND_LABELS[k]) for k in MEMBER_KINDS],
        member_labels=MEMBER_KIND_LABELS,
        member_options=_member_options(me.tenant_id, group.id if group else None),
        destination_kinds=[(k, DESTINATION_LABELS[k]) for k in DESTINATION_KINDS],
        destination_options=destination_options(me.tenant_id),
        strategy_options=[(s, STRATEGY_LABELS[s]) for s in RING_STRATEGIES],
    )
    return page, status or (400 if errors else 200)


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"strategy": "parallel", "timeout": 30, "members": [{"kind": "user"}]}, {})
    me = actor()
    data = _submitted()
    if "refresh" in request.form:
        return _form(None, data, {})
    try:
        with write() as s:
            group = ring_groups.create_ring_group(s, me.tenant_id, data, me)
            name = group.name
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Ring group {name} created.", "success")
    return redirect(url_for("ring_groups.index"))


def _stored(group: RingGroup) -> dict[str, Any]:
    return {
        "name": group.name,
        "extension": group.extension,
        "strategy": group.strategy,
        "timeout": group.timeout,
        "fallback_kind": group.fallback_kind or "",
        "fallback_target": destinations.target_of(group, "fallback"),
        "members": _ordered(ring_groups.member_data(group)),
    }


@bp.route("/<int:group_id>", methods=["GET", "POST"])
def edit(group_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    group = ring_groups.get_ring_group(db(), me.tenant_id, group_id)
    if request.method == "GET":
        return _form(group, _stored(group), {})
    data = _submitted()
    if "refresh" in request.form:
        return _form(group, data | {"extension": group.extension}, {})
    try:
        with write() as s:
            ring_groups.update_ring_group(s, me.tenant_id, group_id, data, me)
    except Invalid as exc:
        group = ring_groups.get_ring_group(db(), me.tenant_id, group_id)
        return _form(group, data | {"extension": group.extension}, exc.errors)
    flash("Ring group saved.", "success")
    return redirect(url_for("ring_groups.index"))


@bp.post("/<int:group_id>/delete")
def delete(group_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    name = ring_groups.get_ring_group(db(), me.tenant_id, group_id).name
    try:
        with write() as s:
            ring_groups.delete_ring_group(s, me.tenant_id, group_id, me)
    except Conflict as exc:
        group = ring_groups.get_ring_group(db(), me.tenant_id, group_id)
        return _form(group, _stored(group), {}, status=409, conflict=exc)
    flash(f"Ring group {name} deleted.", "success")
    return redirect(url_for("ring_groups.index"))
