"""PBX nodes: where config is deployed and events come from. The secret is write-only."""

from __future__ import annotations

import re

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields

from control import validators
from control.models.nodes import PBX_KINDS
from control.services import nodes
from control.validators import CONFIG_DIR_CHARACTERS, HOST, MAX_CONFIG_DIR, MAX_HOST, PORT
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    LINE_CHAR,
    REQUIRED,
    Body,
    ListArgs,
    Whole,
    choice,
    page_body,
    page_schema,
    patterned,
    query_choice,
    sort_choice,
    text,
    whole_number,
)
from web.db import db, write

bp = ApiBlueprint("nodes", __name__, description="FreeSWITCH and Asterisk hosts Switchboard deploys to.")

SECRET = "The AMI (Asterisk) or ESL (FreeSWITCH) password; stored encrypted, never shown again."


class Node(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(metadata={"enum": list(PBX_KINDS)})
    host = fields.String()
    port = fields.Integer()
    username = fields.String()
    config_dir = fields.String()
    transport = fields.String(metadata={"enum": list(nodes.TRANSPORTS)})
    status = fields.String()
    status_detail = fields.String()
    live_version = fields.Integer(allow_none=True)
    live_hash = fields.String(allow_none=True)
    created_at = UtcDateTime()


# The services' rules as patterns: a host name, or anything with ':' (an IPv6 address, bare or in
# brackets, which the service parses); printable secrets; absolute paths of plain characters
# (normalised and not a system directory: the service says so).
HOST_PATTERN = re.compile(f"^(?:{HOST.pattern.pattern}|\\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\\]?)$")
SECRET_PATTERN = re.compile(f"^{LINE_CHAR}{{0,{nodes.MAX_SECRET}}}$")  # "" keeps the current one
NEW_SECRET_PATTERN = re.compile(f"^{LINE_CHAR}{{1,{nodes.MAX_SECRET}}}$")
CONFIG_DIR_PATTERN = re.compile(f"^/(?:{CONFIG_DIR_CHARACTERS.pattern})?$")
NAME = "Letters, digits, '-' and '_' (up to 64)."
HOST_MESSAGE = "A host name, an IPv4 address or an IPv6 address."
CONFIG_DIR = "An absolute path on the PBX host."


class ConfigDirPattern(Whole):
    """CONFIG_DIR_PATTERN, refused with the service's own message for what is wrong."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            errors: validators.Errors = {}
            validators.config_dir(errors, {"config_dir": value})
            raise ma.ValidationError(errors.get("config_dir", [CONFIG_DIR])[0])
        return value


class NodeUpdate(Body):
    name = patterned(nodes.NAME_RE, NAME)
    kind = choice(PBX_KINDS)
    host = patterned(HOST_PATTERN, HOST_MESSAGE, MAX_HOST)
    port = whole_number(PORT, allow_none=True, metadata={"description": "AMI 5038 or ESL 8021 by default."})
    username = text(nodes.MAX_USERNAME, metadata={"description": "The AMI user (Asterisk)."})
    secret = patterned(
        SECRET_PATTERN,
        f"At most {nodes.MAX_SECRET} printable characters.",
        allow_none=True,
        load_only=True,
        metadata={"description": SECRET},
    )
    config_dir = patterned(CONFIG_DIR_PATTERN, CONFIG_DIR, MAX_CONFIG_DIR, whole=ConfigDirPattern)
    transport = choice(nodes.TRANSPORTS)


class NodeCreate(NodeUpdate):
    name = patterned(nodes.NAME_RE, NAME, required=True, error_messages=REQUIRED)
    host = patterned(HOST_PATTERN, HOST_MESSAGE, MAX_HOST, required=True, error_messages=REQUIRED)
    secret = patterned(
        NEW_SECRET_PATTERN,
        "This field is required.",
        required=True,
        load_only=True,
        error_messages=REQUIRED,
        metadata={"description": SECRET},
    )
    config_dir = patterned(
        CONFIG_DIR_PATTERN,
        CONFIG_DIR,
        MAX_CONFIG_DIR,
        whole=ConfigDirPattern,
        required=True,
        error_messages=REQUIRED,
    )


class NodeListArgs(ListArgs):
    sort = sort_choice(nodes.SORTS, "name")
    kind = query_choice(PBX_KINDS)


NodePage = page_schema(Node, "NodePage")


@bp.route("", methods=["GET"])
@bp.arguments(NodeListArgs, location="query")
@bp.response(200, NodePage)
def index(args: dict) -> dict:
    """List the tenant's nodes (search by name or host; sort: name, kind, status, created)."""
    return page_body(nodes.page_nodes(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(NodeCreate)
@bp.response(201, Node)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        node = nodes.create_node(s, data | {"tenant_id": me.tenant_id}, me)
    return node, {"Location": url_for(".show", node_id=node.id)}


@bp.route("/<id:node_id>", methods=["GET"])
@bp.response(200, Node)
def show(node_id: int):  # type: ignore[no-untyped-def]
    return nodes.get_node(db(), node_id, api_user().tenant_id)


@bp.route("/<id:node_id>", methods=["PATCH"])
@bp.arguments(NodeUpdate)
@bp.response(200, Node)
def update(data: dict, node_id: int):  # type: ignore[no-untyped-def]
    """Change a node; send `secret` only to replace it."""
    me = api_user()
    with write() as s:
        return nodes.update_node(s, node_id, data, me, tenant_id=me.tenant_id)


@bp.route("/<id:node_id>", methods=["DELETE"])
@bp.response(204)
def delete(node_id: int) -> Response:
    me = api_user()
    with write() as s:
        nodes.delete_node(s, node_id, me, tenant_id=me.tenant_id)
    return Response(status=204)
