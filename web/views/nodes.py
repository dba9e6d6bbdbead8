"""PBX nodes: where config is deployed; per node its live version, status, history and diffs,
"Deploy now" and "Rollback"; the tenant's automatic-apply switch and what is waiting to apply."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from redis.exceptions import RedisError

from control import jobs
from control.errors import Conflict, Invalid
from control.models import PbxNode
from control.models.nodes import PBX_KINDS
from control.services import audit, deploys, nodes, tenants
from control.validators import row_id
from web.auth import actor
from web.db import db, write
from web.forms import checkbox, form_data
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("nodes", __name__, url_prefix="/nodes")

KIND_LABELS = {"asterisk": "Asterisk (AMI)", "freeswitch": "FreeSWITCH (ESL)"}
TRANSPORT_LABELS = {"local": "Local path (embedded)", "ssh": "SSH + rsync (host key checked)"}
PHASES = ("connecting", "rendering", "validating", "writing", "reloading", "verifying")


def _progress(records: list[Any]) -> dict[int, str]:
    active = [record.id for record in records if record is not None and record.result == "running"]
    try:
        return jobs.progress(active)
    except RedisError:
        return {}


def _pending(tenant_id: int) -> tuple[list[str], float | None, str]:
    """Parts waiting in the open apply window, and in how many seconds it closes."""
    try:
        parts, due = jobs.pending_apply(tenant_id)
    except RedisError as exc:
        return [], None, f"the job queue (Redis) is unreachable: {exc}"
    return sorted(parts), (max(0.0, due - time.time()) if due else None), ""


@bp.get("/")
def index() -> str:
    me = actor()
    page = nodes.page_nodes(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        kind=request.args.get("kind", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    latest = deploys.latest_deploys(db(), [node.id for node in page.items])
    parts, due, queue_error = _pending(me.tenant_id)
    return render_template(
        "nodes/index.html",
        page=page,
        latest=latest,
        progress=_progress(list(latest.values())),
        tenant=tenants.get_tenant(db(), me.tenant_id),
        pending_parts=parts,
        pending_due=due,
        queue_error=queue_error,
        kinds=[(kind, KIND_LABELS[kind]) for kind in PBX_KINDS],
    )


def _form(node: PbxNode | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    page = render_template(
        "nodes/form.html",
        node=node,
        data=data,
        errors=errors,
        kinds=[(kind, KIND_LABELS[kind]) for kind in PBX_KINDS],
        transports=[(name, TRANSPORT_LABELS[name]) for name in nodes.TRANSPORTS],
    )
    return page, 400 if errors else 200


def _submitted() -> dict[str, Any]:
    data = form_data(request.form)
    data["tenant_id"] = actor().tenant_id
    return data


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {"kind": "asterisk", "transport": "local", "host": "127.0.0.1"}, {})
    me = actor()
    data = _submitted()
    try:
        with write() as s:
            node = nodes.create_node(s, data, me)
            node_id, name = node.id, node.name
    except Invalid as exc:
        data.pop("secret", None)
        return _form(None, data, exc.errors)
    flash(f"Node {name} added. Deploy to make the model live on it.", "success")
    return redirect(url_for("nodes.show", node_id=node_id))


@bp.route("/<int:node_id>/edit", methods=["GET", "POST"])
def edit(node_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    node = nodes.get_node(db(), node_id, me.tenant_id)
    if request.method == "GET":
        return _form(node, nodes.node_data(node), {})
    data = _submitted()
    try:
        with write() as s:
            nodes.update_node(s, node_id, data, me, tenant_id=me.tenant_id)
    except Invalid as exc:
        data.pop("secret", None)
        return _form(nodes.get_node(db(), node_id, me.tenant_id), data, exc.errors)
    flash("Node saved.", "success")
    return redirect(url_for("nodes.show", node_id=node_id))


@bp.post("/<int:node_id>/delete")
def delete(node_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        name = nodes.get_node(s, node_id, me.tenant_id).name
        nodes.delete_node(s, node_id, me, tenant_id=me.tenant_id)
    flash(f"Node {name} removed; its PBX keeps the config that was live.", "success")
    return redirect(url_for("nodes.index"))


@bp.get("/<int:node_id>")
def show(node_id: int) -> str:
    me = actor()
    node = nodes.get_node(db(), node_id, me.tenant_id)
    history = deploys.page_deploys(
        db(),
        node.id,
        page=page_arg(),
        sort=request.args.get("sort"),
        result=request.args.get("result", ""),
    )
    active = deploys.active_deploy(db(), node.id)
    return render_template(
        "nodes/show.html",
        node=node,
        history=history,
        active=active,
        progress=_progress([active]),
        phases=PHASES,
        actors=audit.actor_names(db(), history.items),
        targets=deploys.rollback_targets(node, deploys.known_versions(db(), node.id)),
        results=deploys.RESULTS,
    )


@bp.get("/<int:node_id>/status")
def status(node_id: int) -> str:
    """The status card, polled by htmx while a deploy is queued or running."""
    me = actor()
    node = nodes.get_node(db(), node_id, me.tenant_id)
    active = deploys.active_deploy(db(), node.id)
    return render_template(
        "nodes/_status.html", node=node, active=active, progress=_progress([active]), phases=PHASES
    )


@bp.get("/<int:node_id>/sync")
def sync(node_id: int) -> str:
    """Whether the live config is what the model renders to now (loaded after the page)."""
    me = actor()
    node = nodes.get_node(db(), node_id, me.tenant_id)
    return render_template("nodes/_sync.html", node=node, state=deploys.sync_state(db(), node))


def _start(record_id: int, what: str) -> None:
    try:
        jobs.start_deploy_job(record_id)
    except RedisError as exc:
        flash(f"The {what} could not be queued: the job queue (Redis) is unreachable ({exc}).", "error")
        return
    flash(f"{what.capitalize()} #{record_id} queued.", "success")


@bp.post("/<int:node_id>/deploy")
def deploy(node_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    with write() as s:
        record_id = deploys.request_deploy(s, node_id, me, tenant_id=me.tenant_id, source="admin").id
    _start(record_id, "deploy")
    return redirect(url_for("nodes.show", node_id=node_id))


@bp.post("/<int:node_id>/rollback")
def rollback(node_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    raw = request.form.get("version", "").strip()
    version = row_id(raw)
    if raw and version is None:
        flash("Choose a version number to roll back to.", "error")
        return redirect(url_for("nodes.show", node_id=node_id))
    try:
        with write() as s:
            record_id = deploys.request_rollback(s, node_id, me, version, tenant_id=me.tenant_id).id
    except Invalid as exc:
        flash(" ".join(exc.errors.get("version", [str(exc)])), "error")
        return redirect(url_for("nodes.show", node_id=node_id))
    except Conflict as exc:
        flash(str(exc), "error")
        return redirect(url_for("nodes.show", node_id=node_id))
    _start(record_id, "rollback")
    return redirect(url_for("nodes.show", node_id=node_id))


@bp.get("/deploys/<int:deploy_id>")
def deploy_detail(deploy_id: int) -> str:
    me = actor()
    record = deploys.get_deploy(db(), deploy_id, me.tenant_id)
    node = nodes.get_node(db(), record.node_id, me.tenant_id)
    return render_template(
        "nodes/deploy.html",
        record=record,
        node=node,
        actors=audit.actor_names(db(), [record]),
        diff_lines=record.diff_text.splitlines(),
    )


@bp.post("/auto-apply")
def auto_apply():  # type: ignore[no-untyped-def]
    me = actor()
    enabled = checkbox(request.form, "enabled")
    with write() as s:
        deploys.set_auto_apply(s, me.tenant_id, enabled, me)
    if enabled:
        flash("Automatic apply is on: pending changes are applied now, later ones within 2 s.", "success")
    else:
        flash("Automatic apply is off: changes wait until you deploy (or turn it back on).", "success")
    return redirect(url_for("nodes.index"))
