"""Deploys: push the model to a node, roll back, read the history and diffs, and the
automatic-apply switch (off during bulk imports).

    POST /api/v1/nodes/{id}/deploy     queue a deploy (202; a deploy already waiting is reused)
    POST /api/v1/nodes/{id}/rollback   queue a switch back to an earlier version (202)
    GET  /api/v1/nodes/{id}/deploys    the node's history
    GET  /api/v1/nodes/{id}/sync       whether the live config is what the model renders to
    GET  /api/v1/deploys/{id}          one deploy with its file summary and (masked) diff
    GET  /api/v1/apply, PUT /api/v1/apply   automatic apply on or off, and what waits to apply
"""

from __future__ import annotations

import marshmallow as ma
from flask import url_for
from marshmallow import fields, validate
from redis.exceptions import RedisError

from control import jobs
from control.services import deploys, nodes, tenants
from web.api.bearer import api_user
from web.api.blueprint import API_PREFIX, ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.errors import error_response
from web.api.schemas import (
    MAX_ID,
    Body,
    Bool,
    Int,
    ListArgs,
    page_body,
    page_schema,
    query_choice,
    sort_choice,
)
from web.db import db, write

bp = ApiBlueprint("deploys", __name__, description="Deploys and rollbacks of rendered config to PBX nodes.")
# Its routes live under the node they act on (/nodes/{id}/deploy) as well as /deploys/{id}.
bp.url_prefix = API_PREFIX


class FileChange(ma.Schema):
    path = fields.String()
    status = fields.String(metadata={"enum": ["added", "removed", "changed"]})
    added = fields.Integer()
    removed = fields.Integer()


class Summary(ma.Schema):
    source = fields.String(metadata={"enum": list(deploys.SOURCES)})
    requested = fields.List(fields.String(), metadata={"description": "Reload parts the changes asked for."})
    parts = fields.List(
        fields.String(), metadata={"description": "Parts reloaded (those whose files changed)."}
    )
    previous_version = fields.Integer(allow_none=True)
    files = fields.List(fields.Nested(FileChange))
    unchanged = Bool(metadata={"description": "The render was identical to the live version."})
    objects_checked = fields.Integer(metadata={"description": "Objects verified live on the PBX."})
    timings = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "ms per phase"}
    )


class Deploy(ma.Schema):
    id = fields.Integer()
    node_id = fields.Integer()
    kind = fields.String(metadata={"enum": list(deploys.KINDS)})
    result = fields.String(metadata={"enum": list(deploys.RESULTS)})
    version = fields.Integer(allow_none=True)
    content_hash = fields.String(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    summary = fields.Nested(Summary, attribute="diff_summary")
    error = fields.String()
    queued_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)


class DeployDetail(Deploy):
    diff = fields.String(attribute="diff_text", metadata={"description": "Unified diff; secrets masked."})


class RollbackBody(Body):
    version = Int(
        allow_none=True,
        validate=validate.Range(0, MAX_ID),
        metadata={
            "description": "A version that went live on the node; default: the one before the live one."
        },
    )


class DeployListArgs(ListArgs):
    sort = sort_choice(deploys.SORTS, "-queued")
    result = query_choice(deploys.RESULTS)


class Sync(ma.Schema):
    matches = Bool(allow_none=True, metadata={"description": "null when the model does not render"})
    model_hash = fields.String(allow_none=True)
    live_hash = fields.String(allow_none=True)
    error = fields.String()


class Apply(ma.Schema):
    auto_apply = Bool()
    pending = fields.List(
        fields.String(), metadata={"description": "Parts waiting in the open apply window."}
    )


class ApplyBody(Body):
    auto_apply = Bool(required=True)


DeployPage = page_schema(Deploy, "DeployPage")


def _queued(record_id: int):  # type: ignore[no-untyped-def]
    try:
        jobs.start_deploy_job(record_id)
    except RedisError as exc:
        return error_response(503, f"The job queue (Redis) is unreachable: {exc}. The deploy was not queued.")
    record = deploys.get_deploy(db(), record_id)
    db().refresh(record)
    return record, 202, {"Location": url_for(".show", deploy_id=record_id)}


@bp.route("/nodes/<id:node_id>/deploy", methods=["POST"])
@bp.response(202, Deploy)
def deploy(node_id: int):  # type: ignore[no-untyped-def]
    """Queue a deploy of the tenant's model to the node; poll the Location for its result."""
    me = api_user()
    with write() as s:
        record_id = deploys.request_deploy(s, node_id, me, tenant_id=me.tenant_id, source="api").id
    return _queued(record_id)


@bp.route("/nodes/<id:node_id>/rollback", methods=["POST"])
@bp.arguments(RollbackBody, required=False)
@bp.response(202, Deploy)
def rollback(data: dict, node_id: int):  # type: ignore[no-untyped-def]
    """Queue a switch back to an earlier version, then a reload (409 when there is none)."""
    me = api_user()
    with write() as s:
        record_id = deploys.request_rollback(
            s, node_id, me, data.get("version"), tenant_id=me.tenant_id, source="api"
        ).id
    return _queued(record_id)


@bp.route("/nodes/<id:node_id>/deploys", methods=["GET"])
@bp.arguments(DeployListArgs, location="query")
@bp.response(200, DeployPage)
def history(args: dict, node_id: int) -> dict:
    """The node's deploys and rollbacks, newest first (sort: queued, version, result)."""
    node = nodes.get_node(db(), node_id, api_user().tenant_id)
    args.pop("q", None)
    return page_body(deploys.page_deploys(db(), node.id, **args))


@bp.route("/nodes/<id:node_id>/sync", methods=["GET"])
@bp.response(200, Sync)
def sync(node_id: int):  # type: ignore[no-untyped-def]
    """Renders the model now and compares its hash with the live version's."""
    return deploys.sync_state(db(), nodes.get_node(db(), node_id, api_user().tenant_id))


@bp.route("/deploys/<id:deploy_id>", methods=["GET"])
@bp.response(200, DeployDetail)
def show(deploy_id: int):  # type: ignore[no-untyped-def]
    return deploys.get_deploy(db(), deploy_id, api_user().tenant_id)


def _apply_state(tenant_id: int) -> dict:
    try:
        pending, _due = jobs.pending_apply(tenant_id)
    except RedisError:
        pending = set()
    return {"auto_apply": tenants.get_tenant(db(), tenant_id).auto_apply, "pending": sorted(pending)}


@bp.route("/apply", methods=["GET"])
@bp.response(200, Apply)
def apply_state() -> dict:
    """Whether model changes deploy automatically, and what waits in the current 2 s window."""
    return _apply_state(api_user().tenant_id)


@bp.route("/apply", methods=["PUT"])
@bp.arguments(ApplyBody)
@bp.response(200, Apply)
def set_apply(data: dict) -> dict:
    """Turn automatic apply off for a bulk import; turning it on applies what changed meanwhile."""
    me = api_user()
    with write() as s:
        deploys.set_auto_apply(s, me.tenant_id, data["auto_apply"], me)
    return _apply_state(me.tenant_id)
