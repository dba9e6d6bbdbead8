"""Calls up now (per node, from the listener's live state), and hang-up / blind transfer of one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.errors import NotFound
from control.models import Command, LiveChannel, PbxNode, User
from control.services import commands
from control.services.click_to_call import dial_target


@dataclass(frozen=True, slots=True)
class LiveLeg:
    id: str
    node: str
    call_key: str
    user_id: int | None
    answered: bool
    started_at: float


def _legs(session: Session, tenant_id: int) -> list[tuple[LiveChannel, PbxNode]]:
    rows = session.execute(
        select(LiveChannel, PbxNode)
        .join(PbxNode, PbxNode.name == LiveChannel.node)
        .where(PbxNode.tenant_id == tenant_id)
        .order_by(LiveChannel.node, LiveChannel.started_at)
    )
    return [(channel, node) for channel, node in rows]


def _own_calls(rows: list[tuple[LiveChannel, PbxNode]], actor: User) -> set[tuple[str, str]]:
    return {(c.node, c.call_key) for c, _ in rows if c.user_id == actor.id}


def list_live_calls(session: Session, actor: User) -> list[LiveLeg]:
    """Every leg up now on the tenant's nodes (an agent: the legs of their own calls)."""
    rows = _legs(session, actor.tenant_id)
    own = _own_calls(rows, actor) if actor.role != "admin" else None
    return [
        LiveLeg(c.call_id, c.node, c.call_key, c.user_id, c.answered, c.started_at)
        for c, _ in rows
        if own is None or (c.node, c.call_key) in own
    ]


def _find(session: Session, actor: User, call_id: str) -> tuple[LiveChannel, PbxNode]:
    rows = _legs(session, actor.tenant_id)
    found = next(((c, n) for c, n in rows if c.call_id == call_id), None)
    if found is None:
        raise NotFound("live call", call_id)
    if actor.role != "admin" and (found[0].node, found[0].call_key) not in _own_calls(rows, actor):
        raise NotFound("live call", call_id)
    return found


def hangup(session: Session, actor: User, call_id: str) -> Command:
    channel, node = _find(session, actor, call_id)
    return commands.record(
        session,
        node=node,
        kind="hangup",
        actor=actor,
        user=session.get(User, channel.user_id) if channel.user_id else None,
        target=call_id,
        params={"call_id": call_id},
    )


def transfer(session: Session, actor: User, call_id: str, data: dict) -> Command:
    """Blind transfer: this leg continues at `target` (an extension or a number)."""
    channel, node = _find(session, actor, call_id)
    target = dial_target(session, actor.tenant_id, data.get("target"))
    return commands.record(
        session,
        node=node,
        kind="transfer",
        actor=actor,
        user=session.get(User, channel.user_id) if channel.user_id else None,
        target=target,
        params={"call_id": call_id, "target": target},
    )
