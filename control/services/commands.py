"""Commands to a live PBX: who may act for whom, which node, the rate limit, the record.

Every operation (click-to-call, texts, DND, queue presence, hang-up, transfer) validates its
input in its own service, then calls `record`: the command row and the audit entry are written
in the caller's unit of work and a `CommandQueued` effect hands the command to its node's
executor after the commit (control/command_channel.py). The executor reports back through
`claim` and `finish`; a command leaves "queued" once, so it is never sent twice.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from control import effects
from control.db import utcnow
from control.errors import Conflict, Forbidden, NotFound
from control.models import Command, PbxNode, SipRegistration, User
from control.models.commands import FINAL_STATES
from control.services import audit

#: Kinds a stuck button could repeat at a customer: at most RATE_LIMIT per RATE_WINDOW per person.
RATE_LIMITED_KINDS = ("originate", "message", "ring_test")
RATE_LIMIT = 10
RATE_WINDOW = timedelta(seconds=60)
#: A command its executor has not picked up after this long is failed, never sent late.
EXPIRES_AFTER = timedelta(seconds=30)
#: Seconds the executor waits for the PBX's answer to one action.
SEND_TIMEOUT = 10.0
#: Kinds that change a state on the PBX: the executor sends them one after the other, in the order
#: they were recorded (DND on, then off, ends off). Calls and texts wait for no one's answer.
ORDERED_KINDS = frozenset({"dnd", "queue_pause", "hangup", "transfer"})


class RateLimited(Conflict):
    """Too many originates or texts in the window (the API answers 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"At most {RATE_LIMIT} calls and texts a minute; try again in {retry_after} s.")
        self.retry_after = retry_after


def authorise(actor: User, user: User) -> None:
    """An agent acts only for themselves; an admin for anyone in their tenant."""
    if user.tenant_id != actor.tenant_id:
        raise NotFound("user", user.id)
    if actor.role != "admin" and actor.id != user.id:
        raise Forbidden("Agents can only act for themselves.")


def check_rate(session: Session, actor: User) -> None:
    since = utcnow() - RATE_WINDOW
    rows = session.scalars(
        select(Command.created_at)
        .where(
            Command.actor_id == actor.id, Command.kind.in_(RATE_LIMITED_KINDS), Command.created_at >= since
        )
        .order_by(Command.created_at)
    ).all()
    if len(rows) >= RATE_LIMIT:
        oldest = rows[len(rows) - RATE_LIMIT]
        raise RateLimited(max(1, int((oldest + RATE_WINDOW - utcnow()).total_seconds()) + 1))


def tenant_nodes(session: Session, tenant_id: int) -> list[PbxNode]:
    return list(session.scalars(select(PbxNode).where(PbxNode.tenant_id == tenant_id).order_by(PbxNode.id)))


def primary_node(session: Session, tenant_id: int) -> PbxNode:
    """The tenant's first node (by id)."""
    nodes = tenant_nodes(session, tenant_id)
    if not nodes:
        raise Conflict("This tenant has no PBX node.")
    return nodes[0]


def registered_node(session: Session, user: User) -> PbxNode | None:
    """A node of the user's tenant where their phone is registered now, if any."""
    return session.scalar(
        select(PbxNode)
        .join(SipRegistration, SipRegistration.node == PbxNode.name)
        .where(SipRegistration.user_id == user.id, PbxNode.tenant_id == user.tenant_id)
        .order_by(PbxNode.id)
        .limit(1)
    )


def node_for(session: Session, user: User) -> PbxNode:
    """Where the user's phone is registered, else the tenant's primary node."""
    return registered_node(session, user) or primary_node(session, user.tenant_id)


def phone_node(session: Session, user: User) -> PbxNode:
    """The node of the user's registered phone; 409 "no registered phone" without one."""
    node = registered_node(session, user) if user.extension else None
    if node is None:
        raise Conflict("no registered phone", [f"{user.name} has no phone registered now."])
    return node


def new_channel_id() -> str:
    return uuid.uuid4().hex


def record(
    session: Session,
    *,
    node: PbxNode,
    kind: str,
    actor: User | None,
    user: User | None,
    target: str,
    params: dict[str, Any],
    audit_target: Any = None,
) -> Command:
    """Write the command and its audit entry; it is handed to the node after the commit."""
    command = Command(
        tenant_id=node.tenant_id,
        node_id=node.id,
        node=node.name,
        pbx=node.kind,
        kind=kind,
        actor_id=actor.id if actor else None,
        user_id=user.id if user else None,
        target=target[:200],
        params=params,
        state="queued",
        answer="",
        created_at=utcnow(),
    )
    session.add(command)
    session.flush()
    audit.write(
        session,
        actor,
        f"command.{kind}",
        audit_target if audit_target is not None else command,
        tenant_id=node.tenant_id,
        command_id=command.id,
        node=node.name,
        dialled=command.target,
    )
    payload = {
        "id": command.id,
        "tenant_id": command.tenant_id,
        "kind": kind,
        "pbx": node.kind,
        "params": params,
        "created": command.created_at.isoformat() + "Z",
    }
    effects.record(
        session, effects.CommandQueued(node.tenant_id, command.id, node.name, orjson.dumps(payload).decode())
    )
    return command


def get_command(session: Session, actor: User, command_id: int) -> Command:
    command = session.get(Command, command_id)
    if command is None or command.tenant_id != actor.tenant_id:
        raise NotFound("command", command_id)
    if actor.role != "admin" and actor.id not in (command.actor_id, command.user_id):
        raise NotFound("command", command_id)
    return command


# --- the executor's side -----------------------------------------------------------------------


def claim(session: Session, command_id: int) -> bool:
    """queued -> sending, once: True if this caller may send the command now.

    A command already claimed (a replayed stream entry, a second executor) is not sent again;
    one that waited longer than EXPIRES_AFTER fails instead of reaching the PBX late. One
    UPDATE in the usual case: the send waits for it.
    """
    now = utcnow()
    claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Command)
        .where(Command.id == command_id, Command.state == "queued", Command.created_at >= now - EXPIRES_AFTER)
        .values(state="sending", sent_at=now)
    )
    if claimed.rowcount:
        return True
    expired: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Command)
        .where(Command.id == command_id, Command.state == "queued")
        .values(
            state="failed", answer="expired: the node's listener did not pick it up in time", finished_at=now
        )
    )
    if expired.rowcount:
        command = session.get(Command, command_id)
        if command is not None:
            effects.record(session, finished(command))
    return False


def finish(session: Session, command_id: int, state: str, answer: str) -> Command | None:
    """Record the PBX's answer (ok, failed) or that its fate is unknown."""
    if state not in FINAL_STATES:
        raise ValueError(f"not a final command state: {state}")
    command = session.get(Command, command_id)
    if command is None or command.state in FINAL_STATES:
        return command
    command.state = state
    command.answer = answer[:2000]
    command.finished_at = utcnow()
    session.flush()
    effects.record(session, finished(command))
    return command


def finished(command: Command) -> effects.CommandFinished:
    return effects.CommandFinished(
        command.tenant_id, command.id, command.kind, command.user_id, command.state, command.answer
    )


def abandon_in_flight(session: Session, node: str) -> list[int]:
    """Commands of `node` left in "sending" by an executor that stopped: their fate is unknown."""
    ids = list(session.scalars(select(Command.id).where(Command.node == node, Command.state == "sending")))
    for command_id in ids:
        finish(session, command_id, "unknown", "the listener stopped before the PBX answered")
    return ids
