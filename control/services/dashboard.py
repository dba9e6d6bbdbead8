"""The admin dashboard: today's calls, the calls up right now, phones, PBX nodes (their listener
connected or not) and the latest activity of one tenant, as plain data for the page (which
reloads it over the live stream)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control import listener_status
from control.db import utcnow
from control.listener_status import ListenerState
from control.models import ActivityItem, CallRecord, PbxNode, PresenceState, User
from control.services import activity, deploys
from control.services.live_calls import LiveLeg, list_live_calls


@dataclass(frozen=True, slots=True)
class CallsToday:
    answered: int
    missed: int
    average_wait: float | None  # seconds from the first ring to the answer, answered calls only

    @property
    def total(self) -> int:
        return self.answered + self.missed


@dataclass(frozen=True, slots=True)
class LiveCallLeg:
    id: str  # the channel's id on its node: what hang-up and transfer act on
    who: str  # the user on this leg, or "Outside party"
    answered: bool


@dataclass(frozen=True, slots=True)
class LiveCall:
    call_key: str
    node: str
    people: list[str]
    legs: list[LiveCallLeg]  # oldest first: the first is the party that placed the call
    answered: bool
    seconds: int

    @property
    def channels(self) -> int:
        return len(self.legs)

    @property
    def leg_ids(self) -> list[str]:
        return [leg.id for leg in self.legs]

    @property
    def dom_id(self) -> str:
        """The call as an HTML id fragment."""
        return re.sub(r"[^A-Za-z0-9_-]", "-", f"{self.node}-{self.call_key}")


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
    listener: ListenerState


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


def live_calls(session: Session, actor: User, now: float | None = None) -> list[LiveCall]:
    """The calls up now that `actor` may see (live_calls.list_live_calls), one per call with its
    legs grouped, oldest first."""
    legs = list_live_calls(session, actor)
    user_ids = {leg.user_id for leg in legs if leg.user_id is not None}
    names = (
        {uid: name for uid, name in session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    grouped: dict[tuple[str, str], list[LiveLeg]] = {}
    for leg in sorted(legs, key=lambda leg: leg.started_at):
        grouped.setdefault((leg.node, leg.call_key), []).append(leg)
    clock = now if now is not None else time.time()
    calls = []
    for (node, key), call_legs in grouped.items():
        people = list(dict.fromkeys(names[leg.user_id] for leg in call_legs if leg.user_id in names))
        calls.append(
            LiveCall(
                call_key=key,
                node=node,
                people=people,
                legs=[
                    LiveCallLeg(
                        leg.id,
                        names.get(leg.user_id, "Outside party") if leg.user_id else "Outside party",
                        leg.answered,
                    )
                    for leg in call_legs
                ],
                answered=any(leg.answered for leg in call_legs),
                seconds=max(0, int(clock - call_legs[0].started_at)),
            )
        )
    return calls


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
    listeners = listener_status.states([node.name for node in nodes])
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
                listener=listeners[node.name],
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
