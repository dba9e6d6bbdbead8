"""Do Not Disturb, live: the model's state, then one command per node of the tenant.

On each node the command sets what the rendered dialplan checks (Asterisk: AstDB
switchboard-dnd/<extension>) and pauses the user in every queue (unpauses, when turned off, the
memberships that are active). No deploy is needed; the next deploy renders the same state from
the model, so rendered config and live state agree.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from control import effects
from control.errors import Invalid
from control.models import Command, PbxNode, Tenant, User
from control.services import audit, commands, config_changes
from control.services.queues import member_paused, memberships
from control.services.users import get_user


def queue_states(session: Session, user: User) -> list[dict]:
    return [
        {"extension": queue.extension, "paused": member_paused(user, member)}
        for queue, member in memberships(session, user.tenant_id, user.id)
    ]


def set_dnd(session: Session, actor: User, user_id: int, on: bool) -> tuple[User, list[Command]]:
    """An agent for themselves, an admin for anyone of the tenant."""
    user = get_user(session, actor.tenant_id, user_id)
    commands.authorise(actor, user)
    if not user.extension:
        raise Invalid(f"{user.name} has no extension.", "dnd")
    return user, apply_dnd(session, user, on, actor)


def apply_dnd(session: Session, user: User, on: bool, actor: User | None) -> list[Command]:
    """The model's state, then (for a user with a phone) one command per node."""
    user.dnd = on
    session.flush()
    audit.write(session, actor, "user.dnd", user, value=on)
    effects.record(session, effects.PresenceChanged(user.tenant_id, user.id))
    # The next deploy renders the same state (the dialplan's default, the queue members' pause).
    config_changes.changed(session, user.tenant_id, config_changes.DIALPLAN, config_changes.QUEUES)
    if not user.extension:
        return []
    tenant = session.get(Tenant, user.tenant_id)
    params = {
        "extension": user.extension,
        "on": on,
        "queues": queue_states(session, user),
        "domain": tenant.domain if tenant else "",
    }
    return [
        commands.record(
            session,
            node=node,
            kind="dnd",
            actor=actor,
            user=user,
            target="on" if on else "off",
            params=params,
            audit_target=user,
        )
        for node in commands.tenant_nodes(session, user.tenant_id)
    ]


def live_state(session: Session, node_name: str) -> list[dict]:
    """What a node must hold for every user with a phone of its tenant (the parameters of a "dnd"
    command): re-applied whenever the listener connects, so a PBX restart keeps the state."""
    node = session.scalar(select(PbxNode).where(PbxNode.name == node_name))
    if node is None:
        return []
    tenant = session.get(Tenant, node.tenant_id)
    people = session.scalars(
        select(User).where(User.tenant_id == node.tenant_id, User.extension.is_not(None)).order_by(User.id)
    )
    return [
        {
            "extension": user.extension,
            "on": user.dnd,
            "queues": queue_states(session, user),
            "domain": tenant.domain if tenant else "",
        }
        for user in people
        if user.extension
    ]
