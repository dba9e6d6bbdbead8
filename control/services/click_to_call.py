"""Click-to-call and callback: ring the user's phone, then dial the target when they answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from control.db import utcnow
from control.errors import Invalid
from control.models import Command, PhoneNumber, Queue, RingGroup, Tenant, User
from control.phone import parse_number
from control.services import commands
from control.validators import row_id

#: Seconds the user's phone rings before the originate gives up.
RING_SECONDS = 30


def presentable(number: PhoneNumber, now: datetime) -> bool:
    """May be presented as caller ID: never do_not_use, only while the number routes (the rule
    the renderer applies, control/render/view.py `View.presentable`)."""
    if number.do_not_use:
        return False
    if number.status == "active":
        return True
    return number.status == "to_be_cancelled" and (number.cancel_at is None or now < number.cancel_at)


def caller_id(session: Session, tenant_id: int, raw: object) -> str | None:
    """The caller ID the user chose: a number of the tenant that may be presented; None: the
    default the endpoint presents anyway (the line's default caller ID, as rendered)."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise Invalid("Choose one of the tenant's numbers.", "caller_id")
    tenant = session.get(Tenant, tenant_id)
    e164 = parse_number(raw, tenant.default_country if tenant else "US", "caller_id").e164
    number = session.scalar(
        select(PhoneNumber).where(PhoneNumber.tenant_id == tenant_id, PhoneNumber.e164 == e164)
    )
    if number is None:
        raise Invalid(f"{e164} is not a number of this tenant.", "caller_id")
    if not presentable(number, utcnow()):
        reason = "is marked do not use" if number.do_not_use else f"is {number.status.replace('_', ' ')}"
        raise Invalid(f"{e164} {reason}: it cannot be presented as caller ID.", "caller_id")
    return e164


def _internal(session: Session, tenant_id: int, extension: str) -> bool:
    """An extension of the tenant's (user, ring group or queue): one round trip."""
    holders = union_all(
        *(
            select(model.id).where(model.tenant_id == tenant_id, model.extension == extension)
            for model in (User, RingGroup, Queue)
        )
    )
    return session.execute(holders.limit(1)).first() is not None


def dial_target(session: Session, tenant_id: int, raw: object, field: str = "target") -> str:
    """An extension of the tenant (user, ring group, queue) or a phone number, as E.164."""
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("Give an extension or a phone number.", field)
    text = raw.strip()
    if text.isdigit() and len(text) <= 8:
        if _internal(session, tenant_id, text):
            return text
        if len(text) < 7:
            raise Invalid(f"Extension {text} does not exist.", field)
    tenant = session.get(Tenant, tenant_id)
    return parse_number(text, tenant.default_country if tenant else "US", field).e164


def originate(session: Session, actor: User, data: dict) -> Command:
    """Ring `user_id`'s phone (default: the actor's), then dial `target` with `caller_id`."""
    user_id = row_id(data.get("user_id")) if data.get("user_id") is not None else actor.id
    user = session.get(User, user_id or 0)
    if user is None or user.tenant_id != actor.tenant_id:
        raise Invalid("Choose a user of this tenant.", "user_id")
    commands.authorise(actor, user)
    target = dial_target(session, actor.tenant_id, data.get("target"))
    chosen = caller_id(session, actor.tenant_id, data.get("caller_id"))
    if target == user.extension:
        raise Invalid("That is the user's own extension.", "target")
    return ring_and_dial(session, user, target, chosen, actor)


def ring_and_dial(
    session: Session, user: User, target: str, caller_id: str | None, actor: User | None
) -> Command:
    """Ring `user`'s registered phone, then dial a checked `target` presenting `caller_id`.

    `actor` None: the system places it (an automation's callback): no person's rate limit."""
    node = commands.phone_node(session, user)
    if actor is not None:
        commands.check_rate(session, actor)
    assert user.extension is not None
    tenant = session.get(Tenant, user.tenant_id)
    params = {
        "domain": tenant.domain if tenant else "",
        "endpoint": user.extension,
        "target": target,
        "caller_id": caller_id or "",
        "channel_id": commands.new_channel_id(),
        "ring_seconds": RING_SECONDS,
    }
    return commands.record(
        session,
        node=node,
        kind="originate",
        actor=actor,
        user=user,
        target=target,
        params=params,
        audit_target=user,
    )
