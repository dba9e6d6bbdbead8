"""PBX nodes: where config is deployed and events come from. Secrets are stored encrypted."""

from __future__ import annotations

import ipaddress
import re

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from control import crypto
from control.errors import Invalid, NotFound
from control.models import PbxNode, Tenant, User
from control.models.nodes import PBX_KINDS
from control.services import audit
from control.services.listing import Page, like_pattern, paginate
from control.validators import (
    HOST,
    MAX_HOST,
    PORT,
    Errors,
    add,
    choice,
    config_dir,
    integer,
    text,
)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DEFAULT_PORTS = {"asterisk": 5038, "freeswitch": 8021}
TRANSPORTS = ("local", "ssh")
MAX_SECRET = 200
MAX_USERNAME = 80
SORTS = {"name": PbxNode.name, "kind": PbxNode.kind, "status": PbxNode.status, "created": PbxNode.created_at}


def get_node(session: Session, node_id: int, tenant_id: int | None = None) -> PbxNode:
    node = session.get(PbxNode, node_id)
    if node is None or (tenant_id is not None and node.tenant_id != tenant_id):
        raise NotFound("node", node_id)
    return node


def find_node_by_name(session: Session, name: str) -> PbxNode | None:
    return session.scalar(select(PbxNode).where(PbxNode.name == name))


def list_nodes(session: Session, tenant_id: int | None = None) -> list[PbxNode]:
    stmt = select(PbxNode).order_by(PbxNode.name)
    if tenant_id is not None:
        stmt = stmt.where(PbxNode.tenant_id == tenant_id)
    return list(session.scalars(stmt))


def page_nodes(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    kind: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[PbxNode]:
    """The tenant's nodes, searched by name or host."""
    stmt = select(PbxNode).where(PbxNode.tenant_id == tenant_id)
    if q:
        pattern = like_pattern(q.lower())
        stmt = stmt.where(
            or_(func.lower(PbxNode.name).like(pattern, escape="\\"), PbxNode.host.like(pattern, escape="\\"))
        )
    if kind in PBX_KINDS:
        stmt = stmt.where(PbxNode.kind == kind)
    return paginate(session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="name")


def _ipv6(host: str) -> bool:
    """An IPv6 address, bare or in brackets (no zone: '%' has a meaning on command lines)."""
    if "%" in host:
        return False
    try:
        ipaddress.IPv6Address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
    except ValueError:
        return False
    return True


def _apply(session: Session, node: PbxNode, data: dict, *, creating: bool) -> None:
    errors: Errors = {}
    node.name = text(errors, data, "name", required=True, max_len=64)
    if node.name and not NAME_RE.match(node.name):
        add(errors, "name", "Letters, digits, '-' and '_' (up to 64).")
    node.kind = choice(errors, data, "kind", PBX_KINDS, node.kind or "asterisk")
    node.host = text(errors, data, "host", required=True, max_len=MAX_HOST)
    if node.host and "host" not in errors and not (HOST.accepts(node.host) or _ipv6(node.host)):
        add(errors, "host", "A host name, an IPv4 address or an IPv6 address.")
    node.port = integer(errors, data, "port", DEFAULT_PORTS.get(node.kind, 5038), *PORT)
    node.username = text(errors, data, "username", max_len=MAX_USERNAME)
    if node.kind == "asterisk" and not node.username:
        add(errors, "username", "The AMI user is required.")
    secret = str(data.get("secret") or "")
    if secret:
        if len(secret) > MAX_SECRET or any(ord(c) < 32 for c in secret):
            add(errors, "secret", f"At most {MAX_SECRET} printable characters.")
        else:
            node.secret_enc = crypto.encrypt(secret)
    elif creating:
        add(errors, "secret", "This field is required.")
    node.config_dir = config_dir(errors, data)
    node.transport = choice(errors, data, "transport", TRANSPORTS, node.transport or "local")
    tenant_id = data.get("tenant_id") or node.tenant_id
    if session.get(Tenant, int(tenant_id or 0)) is None:
        add(errors, "tenant_id", "Choose a tenant.")
    else:
        node.tenant_id = int(tenant_id)
    if node.name and "name" not in errors:
        clash = find_node_by_name(session, node.name)
        if clash is not None and clash is not node:
            add(errors, "name", "Another node already has this name.")
    if errors:
        raise Invalid(errors)


def node_data(node: PbxNode) -> dict:
    return {
        "name": node.name,
        "kind": node.kind,
        "host": node.host,
        "port": node.port,
        "username": node.username,
        "config_dir": node.config_dir,
        "transport": node.transport,
        "tenant_id": node.tenant_id,
    }


def create_node(session: Session, data: dict, actor: User | None) -> PbxNode:
    node = PbxNode(status="new")
    with session.no_autoflush:
        _apply(session, node, data, creating=True)
    session.add(node)
    session.flush()
    audit.write(session, actor, "node.create", node)
    return node


def update_node(
    session: Session, node_id: int, data: dict, actor: User | None, tenant_id: int | None = None
) -> PbxNode:
    node = get_node(session, node_id, tenant_id)
    with session.no_autoflush:
        _apply(session, node, node_data(node) | dict(data), creating=False)
    session.flush()
    audit.write(session, actor, "node.update", node)
    return node


def node_secret(node: PbxNode) -> str:
    return crypto.decrypt(node.secret_enc)


def delete_node(session: Session, node_id: int, actor: User | None, tenant_id: int | None = None) -> None:
    node = get_node(session, node_id, tenant_id)
    audit.write(session, actor, "node.delete", node, name=node.name)
    session.delete(node)
    session.flush()
