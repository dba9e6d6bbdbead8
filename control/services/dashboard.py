"""The admin dashboard: today's calls, the calls up right now, phones, PBX nodes and the latest
activity of one tenant, as plain data for the page (which reloads it over the live stream)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control.db import utcnow
from control.models import ActivityItem, CallRecord, LiveChannel, PbxNode, PresenceState, User
from control.services import activity, deploys


@dataclass(frozen=True, slots=True)
class CallsToday:
    answered: int
    missed: int
    average_wait: float | None  # seconds from the first ring to the answer, answered calls only

    @property
    def total(self) -> int:
        return self.answered + self.missed


@dataclass(frozen=True, slots=True)
class LiveCall:
    call_key: str
    node: str
    people: list[str]
    leg_ids: list[str]  # the channels' ids on the node: what hang-up and transfer act on
    answered: bool
    seconds: int

    @property
    def channels(self) -> int:
        return len(self.leg_ids)


@dataclass(frozen=True, slots=True)
class Phones:
    registered: list[str]
    offline: list[str]


@dataclass(frozen=True, slots=True)
class NodeState:
    id: int
    name: str
    kind: str
    status: str
    live_version: int | None
    last_deploy: dict[str, object] | None


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def calls_today(session: Session, tenant_id: int, now: datetime | None = None) -> CallsToday:
    since = day_start(now or utcnow())
    today = (CallRecord.tenant_id == tenant_id, CallRecord.started_at >= since)
    counts = dict(
        session.execute(
            select(CallRecord.missed, func.count()).where(*today).group_by(CallRecord.missed)
        ).all()
    )
    waits = [
        (answered_at - started_at).total_seconds()
        for started_at, answered_at in session.execute(
            select(CallRecord.started_at, CallRecord.answered_at).where(
                *today, CallRecord.answered_at.is_not(None), CallRecord.missed.is_(False)
            )
        )
        if answered_at is not None
    ]
    average = sum(max(0.0, wait) for wait in waits) / len(waits) if waits else None
    return CallsToday(answered=counts.get(False, 0), missed=counts.get(True, 0), average_wait=average)


def live_calls(session: Session, tenant_id: int, now: float | None = None) -> list[LiveCall]:
    """The calls up on the tenant's nodes right now, one per call (its channels grouped), oldest first."""
    node_names = select(PbxNode.name).where(PbxNode.tenant_id == tenant_id)
    rows = session.execute(
        select(LiveChannel, User.name)
        .outerjoin(User, User.id == LiveChannel.user_id)
        .where(LiveChannel.node.in_(node_names))
        .order_by(LiveChannel.started_at)
    ).all()
    calls: dict[tuple[str, str], dict] = {}
    for channel, user_name in rows:
        call = calls.setdefault(
            (channel.node, channel.call_key),
            {"people": [], "legs": [], "answered": False, "started": channel.started_at},
        )
        call["legs"].append(channel.call_id)
        call["answered"] = call["answered"] or channel.answered
        call["started"] = min(call["started"], channel.started_at)
        if user_name and user_name not in call["people"]:
            call["people"].append(user_name)
    clock = now if now is not None else time.time()
    return [
        LiveCall(
            call_key=key,
            node=node,
            people=call["people"],
            leg_ids=call["legs"],
            answered=call["answered"],
            seconds=max(0, int(clock - call["started"])),
        )
        for (node, key), call in calls.items()
    ]


def phones(session: Session, tenant_id: int) -> Phones:
    """Users with a SIP extension, split by whether a phone of theirs is registered on a node."""
    rows = session.execute(
        select(User.name, PresenceState.registrations)
        .outerjoin(PresenceState, PresenceState.user_id == User.id)
        .where(User.tenant_id == tenant_id, User.extension.is_not(None), User.extension != "")
        .order_by(User.name)
    ).all()
    return Phones(
        registered=[name for name, registrations in rows if registrations],
        offline=[name for name, registrations in rows if not registrations],
    )


def node_states(session: Session, tenant_id: int) -> list[NodeState]:
    nodes = list(
        session.scalars(select(PbxNode).where(PbxNode.tenant_id == tenant_id).order_by(PbxNode.name))
    )
    latest = deploys.latest_deploys(session, [node.id for node in nodes])
    states = []
    for node in nodes:
        record = latest.get(node.id)
        states.append(
            NodeState(
                id=node.id,
                name=node.name,
                kind=node.kind,
                status=node.status,
                live_version=node.live_version,
                last_deploy=None
                if record is None
                else {
                    "id": record.id,
                    "kind": record.kind,
                    "result": record.result,
                    "at": record.finished_at or record.queued_at,
                },
            )
        )
    return states


def latest_activity(
    session: Session, tenant_id: int, count: int = 8
) -> list[tuple[ActivityItem, CallRecord]]:
    """The latest calls, each once: a call shows on a line's and on a user's activity, and the
    user's item (it names who took or missed it) is the one kept."""
    chosen: dict[int, tuple[ActivityItem, CallRecord]] = {}
    for item, call, _ in activity.page_activity(session, tenant_id, per_page=count * 3).items:
        if call is None:
            continue  # texts and callback tasks are on the activity pages, not among the calls
        kept = chosen.get(call.id)
        if kept is None or (kept[0].user_id is None and item.user_id is not None):
            chosen[call.id] = (item, call)
    return list(chosen.values())[:count]


def ago(moment: datetime, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago'."""
    seconds = ((now or utcnow()) - moment) / timedelta(seconds=1)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"
