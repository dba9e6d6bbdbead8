"""Texts (SIP MESSAGE): sent from a line's number, received on one; each is a line activity item."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from control import effects
from control.db import utcnow
from control.errors import Invalid
from control.models import ActivityItem, Command, Line, PbxNode, PhoneNumber, Tenant, TextMessage, User
from control.phone import parse_number
from control.services import automation_triggers, commands, contacts
from control.services.click_to_call import dial_target, presentable
from control.services.lines import get_line
from control.services.users import find_user_by_extension
from control.validators import row_id

MAX_BODY = 1600
_SIP_USER = re.compile(r"sips?:([^@;>]+)@")


def sender_number(session: Session, line: Line) -> str:
    """The number a line's texts come from: its default caller ID, else its first usable number."""
    now = utcnow()
    default = session.get(PhoneNumber, line.default_caller_id_id) if line.default_caller_id_id else None
    if default is not None and presentable(default, now):
        return default.e164
    for number in line.numbers:
        if presentable(number, now):
            return number.e164
    raise Invalid("This line has no number that may send texts.", "line_id")


def body_text(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        raise Invalid("Write the text.", "body")
    if len(raw) > MAX_BODY:
        raise Invalid(f"A text has at most {MAX_BODY} characters.", "body")
    if "\x00" in raw:
        raise Invalid("A text cannot hold a NUL character.", "body")
    return raw


def _item(session: Session, message: TextMessage) -> None:
    if message.line_id is None and message.user_id is None:
        return
    item = ActivityItem(
        tenant_id=message.tenant_id,
        kind="text",
        line_id=message.line_id,
        user_id=None if message.line_id else message.user_id,
        text_message_id=message.id,
    )
    session.add(item)
    session.flush()
    effects.record(session, effects.ActivityAdded(message.tenant_id, item.id))


def send(session: Session, actor: User, data: dict) -> Command:
    """Send `body` from line `line_id`'s number to `to` (a phone number, or a user's extension)."""
    line = (
        get_line(session, actor.tenant_id, row_id(data.get("line_id")) or 0) if data.get("line_id") else None
    )
    if line is None:
        raise Invalid("Choose a line.", "line_id")
    body = body_text(data.get("body"))
    sender_number(session, line)  # a line that cannot send says so before the recipient is read
    to = dial_target(session, actor.tenant_id, data.get("to"), "to")
    return send_from_line(session, line, to, body, actor)


def send_from_line(session: Session, line: Line, to: str, body: str, actor: User | None) -> Command:
    """Send a checked `body` from `line`'s number to `to` (E.164 or an extension of the tenant).

    `actor` None: the system sends (an automation): no person's rate limit applies."""
    sender = sender_number(session, line)
    tenant = session.get(Tenant, line.tenant_id)
    assert tenant is not None
    if to.startswith("+"):
        if not tenant.trunk_host:
            raise Invalid("This tenant has no trunk to send texts through.", "to")
        params = {
            "to_kind": "number",
            "to": to,
            "from": sender,
            "body": body,
            "trunk_host": tenant.trunk_host,
            "trunk_port": tenant.trunk_port or 5060,
        }
        node = commands.primary_node(session, tenant.id)
        recipient = None
    else:
        recipient = find_user_by_extension(session, tenant.id, to)
        if recipient is None:
            raise Invalid(f"Extension {to} is not a person's phone.", "to")
        params = {"to_kind": "extension", "to": to, "from": sender, "body": body, "domain": tenant.domain}
        node = commands.node_for(session, recipient)
    if actor is not None:
        commands.check_rate(session, actor)
    command = commands.record(
        session,
        node=node,
        kind="message",
        actor=actor,
        user=actor,
        target=to,
        params=params,
        audit_target=line,
    )
    owner = actor.id if actor else None
    contact = contacts.match_number(session, tenant.id, to, owner) if to.startswith("+") else None
    message = TextMessage(
        tenant_id=tenant.id,
        direction="outbound",
        line_id=line.id,
        user_id=recipient.id if recipient else owner,
        contact_id=contact.id if contact else None,
        command_id=command.id,
        from_number=sender,
        to_number=to,
        body=body,
    )
    session.add(message)
    session.flush()
    _item(session, message)
    return command


def _sip_user(uri: str) -> str:
    match = _SIP_USER.search(uri)
    return match.group(1) if match else uri.strip()


def receive(
    session: Session, node_name: str, sender_uri: str, recipient_uri: str, body: str
) -> TextMessage | None:
    """An inbound MESSAGE from the trunk: a text item on the line whose number it was sent to."""
    node = session.scalar(select(PbxNode).where(PbxNode.name == node_name))
    if node is None:
        return None
    tenant = session.get(Tenant, node.tenant_id)
    country = tenant.default_country if tenant else "US"
    recipient = _sip_user(recipient_uri)
    sender = _sip_user(sender_uri)
    try:
        to_e164 = parse_number(recipient if recipient.startswith("+") else "+" + recipient, country).e164
    except Invalid:
        to_e164 = recipient[:64]
    try:
        from_e164 = parse_number(sender, country).e164
    except Invalid:
        from_e164 = sender[:64]
    number = session.scalar(
        select(PhoneNumber).where(PhoneNumber.tenant_id == node.tenant_id, PhoneNumber.e164 == to_e164)
    )
    contact = contacts.match_number(session, node.tenant_id, from_e164)
    message = TextMessage(
        tenant_id=node.tenant_id,
        direction="inbound",
        line_id=number.line_id if number else None,
        user_id=number.user_id if number else None,
        contact_id=contact.id if contact else None,
        from_number=from_e164,
        to_number=to_e164,
        # trailing line breaks are no part of what was written (phones and sipp end a body with
        # CRLF; Asterisk's MESSAGE(body) drops it, FreeSWITCH keeps it)
        body=body.rstrip("\r\n")[: MAX_BODY * 4],
    )
    session.add(message)
    session.flush()
    _item(session, message)
    automation_triggers.text_received(session, message)
    return message


def list_texts(
    session: Session, tenant_id: int, *, line_id: int | None = None, limit: int = 100
) -> list[TextMessage]:
    stmt = select(TextMessage).where(TextMessage.tenant_id == tenant_id)
    if line_id is not None:
        stmt = stmt.where(TextMessage.line_id == line_id)
    return list(
        session.scalars(stmt.order_by(TextMessage.created_at.desc(), TextMessage.id.desc()).limit(limit))
    )
