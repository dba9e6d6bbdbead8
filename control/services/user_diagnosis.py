"""Why does a user not get calls? Everything an admin needs to tell, on one page.

Per node, read from the live PBX through the node's listener (control/pbx_reads.py): whether the
user's endpoint exists there and each registered contact (address, user agent, source address,
expiry, and reachability: the round trip of an OPTIONS ping sent now); from the model: whether the node runs the config the model
renders now. Then the user's last calls with their hang-up causes and today's presence changes
(registrations and device states as the PBX reported them). `findings` sums it up in sentences.
A node that does not answer within the read timeout is shown as such.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from control import listener_status, pbx_reads
from control.db import utcnow
from control.errors import Conflict
from control.models import ActivityItem, CallRecord, Command, PbxNode, RawEvent, Tenant, User
from control.services import commands, deploys, users

#: how many of the user's calls, and of today's presence changes, are shown
LAST_CALLS = 10
PRESENCE_CHANGES = 40
#: raw events of today looked at for presence changes (newest first)
_PRESENCE_SCAN = 5000

NOT_LISTENING = "its listener is not connected to the PBX (see the dashboard)"

Asker = Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class Contact:
    contact: str
    user_agent: str
    source: str
    expires_in: int | None
    reachable: bool | None  # from an OPTIONS ping on demand; None: not pinged (`status` says why)
    status: str
    rtt_ms: float | None


@dataclass(frozen=True, slots=True)
class NodeDiagnosis:
    id: int
    name: str
    kind: str
    #: the listener answered; False: `error` says why not
    answered: bool
    error: str
    #: the user's endpoint exists in the config the PBX runs (None: not asked)
    endpoint_present: bool | None
    contacts: list[Contact]
    live_version: int | None
    #: the node runs what the model renders now (None: the model does not render)
    current: bool | None
    current_detail: str


@dataclass(frozen=True, slots=True)
class CallLine:
    id: int
    started_at: datetime
    direction: str
    other: str
    outcome: str  # answered, missed, no answer (rang here, answered elsewhere)
    hangup_cause: str
    seconds: int


@dataclass(frozen=True, slots=True)
class PresenceChange:
    at: datetime
    node: str
    what: str


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "problem" or "ok"
    text: str


@dataclass(slots=True)
class Diagnosis:
    user: User
    nodes: list[NodeDiagnosis]
    last_calls: list[CallLine]
    presence_today: list[PresenceChange]
    findings: list[Finding] = field(default_factory=list)

    @property
    def registered(self) -> bool:
        return any(node.contacts for node in self.nodes)


def _contact(raw: dict[str, Any]) -> Contact:
    expires = raw.get("expires_in")
    rtt = raw.get("rtt_ms")
    reachable = raw.get("reachable")
    return Contact(
        contact=str(raw.get("contact") or ""),
        user_agent=str(raw.get("user_agent") or ""),
        source=str(raw.get("source") or ""),
        expires_in=int(expires) if isinstance(expires, int | float) else None,
        reachable=reachable if isinstance(reachable, bool) else None,
        status=str(raw.get("status") or ""),
        rtt_ms=float(rtt) if isinstance(rtt, int | float) else None,
    )


def _node_diagnosis(
    session: Session, node: PbxNode, answer: dict[str, Any] | None, asked: bool
) -> NodeDiagnosis:
    sync = deploys.sync_state(session, node)
    if sync.matches is None:
        detail = sync.error or "the model does not render"
    elif sync.matches:
        detail = "runs the configuration the model renders now"
    else:
        detail = "runs an older configuration than the model: deploy to bring it up to date"
    contacts: list[Contact] = []
    if not asked:
        answered, error, present = True, "", None
    elif answer is None:
        answered, error, present = False, "the node did not answer in time", None
    elif not answer.get("ok"):
        answered, error, present = False, str(answer.get("error") or "the read failed"), None
    else:
        answered, error = True, ""
        present = bool(answer.get("present"))
        contacts = [_contact(c) for c in answer.get("contacts") or [] if isinstance(c, dict)]
    return NodeDiagnosis(
        id=node.id,
        name=node.name,
        kind=node.kind,
        answered=answered,
        error=error,
        endpoint_present=present,
        contacts=contacts,
        live_version=node.live_version,
        current=sync.matches,
        current_detail=detail,
    )


def last_calls(session: Session, user: User, count: int = LAST_CALLS) -> list[CallLine]:
    """The user's latest calls: made, received, or ringing them (a ring group, a queue)."""
    rang_here = select(ActivityItem.call_record_id).where(
        ActivityItem.user_id == user.id, ActivityItem.call_record_id.is_not(None)
    )
    rows = session.scalars(
        select(CallRecord)
        .where(
            CallRecord.tenant_id == user.tenant_id,
            or_(
                CallRecord.caller_user_id == user.id,
                CallRecord.callee_user_id == user.id,
                CallRecord.answered_by_user_id == user.id,
                CallRecord.id.in_(rang_here),
            ),
        )
        .order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
        .limit(count)
    )
    lines = []
    for call in rows:
        outgoing = call.caller_user_id == user.id
        if call.answered_at is not None and call.answered_by_user_id in (None, user.id):
            outcome = "answered"
        elif call.answered_at is not None:
            outcome = "answered by someone else"
        else:
            outcome = "not answered" if outgoing else "missed"
        other = call.callee_number if outgoing else (call.caller_name or call.caller_number)
        lines.append(
            CallLine(
                id=call.id,
                started_at=call.started_at,
                direction="outgoing" if outgoing else "incoming",
                other=other or "",
                outcome=outcome,
                hangup_cause=call.hangup_cause or "",
                seconds=call.billsec,
            )
        )
    return lines


def _presence_text(kind: str, payload: dict[str, Any]) -> str:
    state = str(payload.get("state") or "").replace("_", " ")
    if kind == "Registration":
        where = payload.get("network_ip") or payload.get("contact") or ""
        return f"phone {state}" + (f" from {where}" if where else "")
    return f"line {state}"


def presence_today(
    session: Session, user: User, nodes: list[PbxNode], now: datetime | None = None
) -> list[PresenceChange]:
    """Registrations and device-state changes of the user's extension today, newest first."""
    if not user.extension or not nodes:
        return []
    since = (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    epoch = (since - datetime(1970, 1, 1)).total_seconds()
    rows = session.execute(
        select(RawEvent.node, RawEvent.kind, RawEvent.occurred_at, RawEvent.payload)
        .where(
            RawEvent.node.in_([node.name for node in nodes]),
            RawEvent.kind.in_(("Registration", "DeviceState")),
            RawEvent.occurred_at >= epoch,
        )
        .order_by(RawEvent.occurred_at.desc(), RawEvent.id.desc())
        .limit(_PRESENCE_SCAN)
    )
    changes: list[PresenceChange] = []
    last: dict[tuple[str, str], str] = {}
    for node, kind, occurred_at, payload in rows:
        if not isinstance(payload, dict) or str(payload.get("extension") or "") != user.extension:
            continue
        text = _presence_text(kind, payload)
        # newest first: a repeat of the state just after it is no change
        if last.get((node, kind)) == text and changes:
            continue
        last[(node, kind)] = text
        changes.append(PresenceChange(datetime(1970, 1, 1) + timedelta(seconds=occurred_at), node, text))
        if len(changes) >= PRESENCE_CHANGES:
            break
    return changes


def _findings(user: User, nodes: list[NodeDiagnosis]) -> list[Finding]:
    found: list[Finding] = []
    problem = lambda text: found.append(Finding("problem", text))  # noqa: E731
    if not user.extension:
        problem(f"{user.name} has no extension: no phone can register and no call can reach them.")
    if user.suspended:
        problem(f"{user.name} is suspended: calls are not routed to them.")
    if user.routing_paused:
        problem(f"Calls are not routed to {user.name} (paused): activate them on the users page.")
    if user.dnd:
        problem(f"Do Not Disturb is on: {user.name}'s phone does not ring.")
    if not nodes:
        problem("This tenant has no PBX node.")
    for node in nodes:
        if node.current is False:
            problem(f"{node.name} {node.current_detail}.")
        if not node.answered:
            problem(f"{node.name} could not be read ({node.error}): its registrations are unknown.")
            continue
        if user.extension and node.endpoint_present is False:
            problem(f"{node.name} does not know extension {user.extension}: deploy the configuration.")
        for contact in node.contacts:
            if contact.reachable is False:
                problem(
                    f"The phone at {contact.source or contact.contact} on {node.name} does not answer an OPTIONS ping ({contact.status})."
                )
    if user.extension and nodes and all(n.answered for n in nodes) and not any(n.contacts for n in nodes):
        problem(
            f"No phone of {user.name} is registered on any node: check the phone's SIP account and network."
        )
    if not found:
        registered = sum(len(n.contacts) for n in nodes)
        found.append(
            Finding(
                "ok",
                f"Nothing stops calls to {user.name}: {registered} phone{'s' if registered != 1 else ''} registered and reachable, configuration current.",
            )
        )
    return found


def diagnose(session: Session, tenant_id: int, user_id: int, ask: Asker | None = None) -> Diagnosis:
    """`ask` reads the nodes (default: through their listeners, control/pbx_reads.py)."""
    user = users.get_user(session, tenant_id, user_id)
    nodes = commands.tenant_nodes(session, tenant_id)
    tenant = session.get(Tenant, tenant_id)
    # a node whose listener is not connected cannot answer: said at once, not after the timeout
    listening = listener_status.states([n.name for n in nodes])
    question = {"kind": "endpoint", "endpoint": user.extension, "domain": tenant.domain if tenant else ""}
    questions = {n.name: question for n in nodes if listening[n.name].connected} if user.extension else {}
    answers: dict[str, dict[str, Any] | None] = (ask or pbx_reads.ask_all)(questions) if questions else {}
    if user.extension:
        for node in nodes:
            answers.setdefault(node.name, {"ok": False, "error": NOT_LISTENING})
    node_views = [_node_diagnosis(session, n, answers.get(n.name), bool(user.extension)) for n in nodes]
    diagnosis = Diagnosis(
        user=user,
        nodes=node_views,
        last_calls=last_calls(session, user),
        presence_today=presence_today(session, user, nodes),
    )
    diagnosis.findings = _findings(user, node_views)
    return diagnosis


def ring_test(session: Session, actor: User, user_id: int) -> Command:
    """Ring the user's phone as a test call (the caller name says so); answered, it echoes for a
    few seconds and hangs up. On the node their phone is registered on."""
    user = users.get_user(session, actor.tenant_id, user_id)
    commands.authorise(actor, user)
    if not user.extension:
        raise Conflict("no extension", [f"{user.name} has no extension to ring."])
    node = commands.phone_node(session, user)
    commands.check_rate(session, actor)
    tenant = session.get(Tenant, user.tenant_id)
    return commands.record(
        session,
        node=node,
        kind="ring_test",
        actor=actor,
        user=user,
        target=user.extension,
        params={
            "endpoint": user.extension,
            "domain": tenant.domain if tenant else "",
            "channel_id": commands.new_channel_id(),
        },
        audit_target=user,
    )
