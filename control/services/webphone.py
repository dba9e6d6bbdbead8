"""The webphone: what the logged-in user's browser needs to register as their webphone device.

Only ever for the user themselves (the portal hands it over their own session, never to an
admin acting as them): their SIP user name and secret, the PBX node's WebSocket address. The same
on both PBX kinds (names.webphone_user); the SIP domain differs: Asterisk knows the endpoint by its
user name alone (the node's host), FreeSWITCH finds the user in the directory of the tenant's
domain.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from control import crypto
from control.config import settings
from control.errors import NotFound
from control.models import PbxNode, Tenant, User
from control.render import names


@dataclass(frozen=True, slots=True)
class WebphoneAccount:
    """`uri`: the address the browser registers (sip:<user>@<node host>, on FreeSWITCH
    sip:<user>@<tenant's SIP domain>); `username`/`password`:
    its digest credentials; `ws_url`: the node's wss:// transport; `display_name`, `extension`:
    shown in the panel."""

    ws_url: str
    uri: str
    username: str
    password: str
    display_name: str
    extension: str


def node_for(session: Session, user: User) -> PbxNode | None:
    """The PBX node the user's phones register to: their tenant's node (the first one)."""
    return session.scalar(
        select(PbxNode).where(PbxNode.tenant_id == user.tenant_id).order_by(PbxNode.id).limit(1)
    )


def account(session: Session, user: User) -> WebphoneAccount:
    """The user's own webphone account; NotFound when they have no phone or no node carries one."""
    if user.suspended or not user.extension or not user.sip_secret_enc:
        raise NotFound("webphone of user", user.id)
    node = node_for(session, user)
    if node is None:
        raise NotFound("webphone node of user", user.id)
    username = names.webphone_user(user.extension)
    host = node.host if ":" not in node.host else f"[{node.host}]"
    ws_url, domain = settings().webphone_url, host
    if node.kind == "freeswitch":
        tenant = session.get(Tenant, user.tenant_id)
        if tenant is None:
            raise NotFound("webphone node of user", user.id)
        ws_url, domain = settings().fs_webphone_url, tenant.domain
    return WebphoneAccount(
        ws_url=ws_url.replace("{host}", host),
        uri=f"sip:{username}@{domain}",
        username=username,
        password=crypto.decrypt(user.sip_secret_enc),
        display_name=user.name,
        extension=user.extension,
    )
